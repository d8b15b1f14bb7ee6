// Command kube-network-policies runs the NetworkPolicy controller of
// sigs.k8s.io/kube-network-policies (its pkg/networkpolicy, unchanged) as a host process of
// the local node. It differs from the module's own cmd/main.go only where a host process must:
//   - the API server comes from --kubeconfig (the upstream main only knows the in-cluster
//     service-account files under /var/run/secrets, a fixed host path);
//   - the node's containerd runs without NRI (its socket is one fixed host path, which two
//     cluster instances would share); the controller's NRI client is still created, because
//     v0.8.0 dereferences it for every packet from an address that is not a known pod
//     (NRIdisabled: true crashes on the first such packet); it finds no socket and gives up;
//   - SIGTERM stops it like SIGINT.
//
// The controller programs an nftables table whose rules send new connections of the node's
// pods to NFQUEUE. Where the kernel lacks nft's `queue` expression (nft_queue), that table
// cannot be loaded and e2e/lib/node.sh feeds the same queue from an iptables NFQUEUE rule
// instead; the verdict for every packet is still this controller's.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sys/unix"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/component-base/logs"
	logsapi "k8s.io/component-base/logs/api/v1"
	"k8s.io/klog/v2"
	"sigs.k8s.io/kube-network-policies/pkg/networkpolicy"
)

func main() { os.Exit(run()) }

func run() int {
	var (
		kubeconfig, nodeName, metricsAddr string
		queueID                           int
		failOpen                          bool
	)
	flag.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the API server (required)")
	flag.StringVar(&nodeName, "hostname-override", "", "the Node this agent enforces policies on (required)")
	flag.StringVar(&metricsAddr, "metrics-bind-address", "127.0.0.1:9080", "address of /metrics")
	flag.IntVar(&queueID, "nfqueue-id", 100, "the NFQUEUE number")
	flag.BoolVar(&failOpen, "fail-open", false, "accept packets the controller cannot judge")
	c := logsapi.NewLoggingConfiguration()
	logsapi.AddGoFlags(c, flag.CommandLine)
	flag.Parse()
	logs.InitLogs()
	if err := logsapi.ValidateAndApply(c, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if kubeconfig == "" || nodeName == "" {
		fmt.Fprintln(os.Stderr, "--kubeconfig and --hostname-override are required")
		return 2
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, unix.SIGTERM)
	defer cancel()

	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		klog.Errorf("kubeconfig %s: %v", kubeconfig, err)
		return 1
	}
	config.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	config.ContentType = "application/vnd.kubernetes.protobuf"
	clientset, err := kubernetes.NewForConfig(config)
	if err != nil {
		klog.Errorf("client: %v", err)
		return 1
	}
	factory := informers.NewSharedInformerFactory(clientset, 0)

	http.Handle("/metrics", promhttp.Handler())
	go func() { utilruntime.HandleError(http.ListenAndServe(metricsAddr, nil)) }()

	controller, err := networkpolicy.NewController(
		clientset,
		factory.Networking().V1().NetworkPolicies(),
		factory.Core().V1().Namespaces(),
		factory.Core().V1().Pods(),
		nil, nil, nil, nil,
		networkpolicy.Config{
			FailOpen:            failOpen,
			QueueID:             queueID,
			NodeName:            nodeName,
			NetfilterBug1766Fix: false, // fixed in the kernels this runs on (6.12+)
			NRIdisabled:         false, // see above
		},
	)
	if err != nil {
		klog.Errorf("network policy controller: %v", err)
		return 1
	}
	go func() { utilruntime.HandleError(controller.Run(ctx)) }()
	factory.Start(ctx.Done())
	<-ctx.Done()
	return 0
}
