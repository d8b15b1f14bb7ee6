#!/usr/bin/env bash
# The project's images, built here from Debian packages with no registry.
#
#   e2e/images.sh build [NAME...]   build the images (default: all) into OCI archives under
#                                   ${PERFRUN_CACHE_DIR:-~/.cache/perfrun}/images, keyed by a hash
#                                   of each image's inputs (an unchanged image is not rebuilt),
#                                   and write images.tsv there: name<TAB>reference<TAB>archive
#   e2e/images.sh tsv               print the path of images.tsv
#   e2e/images.sh operator-env      print `export KEY=VALUE` lines pointing the operator at
#                                   the built images (source it, or eval it)
#   e2e/images.sh list              print every image name
#
# Each archive imports with `ctr -n k8s.io images import FILE` under its reference
# (perfrun.local/NAME:VERSION, the version the image really contains).
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=e2e/lib/images.sh
source "$REPO_DIR/e2e/lib/images.sh"

cmd_build() {
	local names=("$@") name
	[ ${#names[@]} -gt 0 ] || names=("${ALL_IMAGES[@]}")
	for name in "${names[@]}"; do image_version_source "$name" >/dev/null; done
	for tool in buildah mmdebstrap; do
		command -v "$tool" >/dev/null || idie "$tool is missing (make system-deps installs it)"
	done
	mkdir -p "$IMAGES_CACHE"
	exec 8>"$IMAGES_CACHE/.lock"
	flock -w "${PERFRUN_LOCK_TIMEOUT:-3600}" 8 || idie "timed out waiting for $IMAGES_CACHE/.lock"
	for name in "${names[@]}"; do build_one "$name"; done
	write_tsv
	ilog "wrote $IMAGES_TSV"
}

# Roles of the operator's image map and the image each one takes.
cmd_operator_env() {
	[ -s "$IMAGES_TSV" ] || idie "no $IMAGES_TSV: run e2e/images.sh build first"
	local role ref templates="" versions="" sep=""
	for role in postgres redis rabbitmq prometheus postgres-exporter redis-exporter perfrun; do
		ref="$(tsv_ref "$role")"
		[ -n "$ref" ] || continue
		templates+="$sep\"$role\":\"${ref%:*}:{version}\""
		versions+="$sep\"$role\":\"${ref##*:}\""
		sep=","
	done
	ref="$(tsv_ref perfrun)"
	[ -z "$ref" ] || echo "export PERFRUN_IMAGE=$ref"
	echo "export PERFRUN_IMAGES='{$templates}'"
	echo "export PERFRUN_DEFAULT_VERSIONS='{$versions}'"
}

case "${1:-}" in
build) shift && cmd_build "$@" ;;
tsv) echo "$IMAGES_TSV" ;;
operator-env) cmd_operator_env ;;
list) printf '%s\n' "${ALL_IMAGES[@]}" ;;
*)
	sed -n '2,15p' "$0" >&2
	exit 2
	;;
esac
