"""The operator's informer cache of the run namespaces (``perfrun.kube.cache``): which kinds
it watches, selected by the labels this operator puts on what it creates."""

from __future__ import annotations

from perfrun.kube.cache import Cache, Kind
from perfrun.kube.client import Kube
from perfrun.kube.events import FAILED_CREATES
from perfrun.render.context import LABEL_MANAGED_BY, LABEL_RUN, MANAGED_BY

RUN_OBJECTS = f"{LABEL_RUN}"  # every object of a run carries its run label (pods included)
RUN_NAMESPACES = f"{LABEL_MANAGED_BY}={MANAGED_BY}"
# What a reconcile reads: the namespace, the environment's kinds, pods and Jobs. One watch
# each, cluster-wide (a run namespace is made per run); any other kind is read from the API.
KINDS: dict[Kind, str] = {
    ("v1", "Namespace"): RUN_NAMESPACES,
    ("v1", "Pod"): RUN_OBJECTS,
    ("batch/v1", "Job"): RUN_OBJECTS,
    ("v1", "ConfigMap"): RUN_OBJECTS,
    ("apps/v1", "Deployment"): RUN_OBJECTS,
    ("apps/v1", "StatefulSet"): RUN_OBJECTS,
    ("v1", "Service"): RUN_OBJECTS,
    ("v1", "Secret"): RUN_OBJECTS,
    ("v1", "ServiceAccount"): RUN_OBJECTS,
    ("networking.k8s.io/v1", "NetworkPolicy"): RUN_OBJECTS,
    ("rbac.authorization.k8s.io/v1", "Role"): RUN_OBJECTS,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): RUN_OBJECTS,
    ("v1", "ResourceQuota"): RUN_OBJECTS,
    ("v1", "LimitRange"): RUN_OBJECTS,
    # the controllers' word on pods they could not create (kube/events.py), cluster-wide
    ("v1", "Event"): "",
}
FIELDS: dict[Kind, str] = {("v1", "Event"): FAILED_CREATES}


def run_cache(kube: Kube, watcher: Kube) -> Cache:
    """The cache, its informers started; ``kube`` tells it what it writes."""
    cache = Cache(kube, watcher, KINDS, FIELDS)
    kube.on_written = cache.remember
    cache.start()
    return cache
