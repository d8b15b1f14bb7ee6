# shellcheck shell=bash
# Image builds for e2e/images.sh: a Debian slim base made by mmdebstrap, then every
# images/<name>/Containerfile built by buildah (chroot isolation) into an OCI archive named
# after a hash of its inputs. Sourced; expects REPO_DIR.

IMAGES_SUITE="${PERFRUN_DEBIAN_SUITE:-trixie}"
IMAGES_MIRROR="${PERFRUN_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
IMAGES_SECURITY_MIRROR="${PERFRUN_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
IMAGES_REGISTRY="${PERFRUN_IMAGE_REGISTRY:-perfrun.local}"
# Bump to rebuild every image (a change in how images are built, not in what they hold).
IMAGES_RECIPE=2

IMAGES_CACHE="${PERFRUN_CACHE_DIR:-$HOME/.cache/perfrun}/images"
IMAGES_STORE="$IMAGES_CACHE/storage"
IMAGES_RUNROOT="${PERFRUN_IMAGES_RUNROOT:-/run/perfrun-buildah}"
IMAGES_TSV="$IMAGES_CACHE/images.tsv"

# Every image, in build order. `perfrun` builds from the repository root (it packages the
# operator); the others from their own folder.
ALL_IMAGES=(pause perfrun postgres redis rabbitmq prometheus postgres-exporter redis-exporter nginx shop)

ilog() { printf '[images] %s\n' "$*" >&2; }
idie() {
	printf '[images] ERROR: %s\n' "$*" >&2
	exit 1
}

bh() {
	buildah --root "$IMAGES_STORE" --runroot "$IMAGES_RUNROOT" --storage-driver overlay "$@"
}

# How an image's tag is found: `fixed:V`, `python:DIST` (a wheel's version in the image) or
# `dpkg:PACKAGE:CUT` (the Debian package's upstream version, cut to major|minor|full).
image_version_source() {
	case "$1" in
	pause) echo "fixed:$(sed -n 's/^#define VERSION "\(.*\)"$/\1/p' "$REPO_DIR/images/pause/pause.c")" ;;
	perfrun) echo "python:perfrun_operator" ;;
	postgres) echo "dpkg:postgresql-17:major" ;;
	redis) echo "dpkg:redis-server:minor" ;;
	rabbitmq) echo "dpkg:rabbitmq-server:minor" ;;
	prometheus) echo "dpkg:prometheus:vfull" ;;
	postgres-exporter) echo "dpkg:prometheus-postgres-exporter:vfull" ;;
	redis-exporter) echo "dpkg:prometheus-redis-exporter:vfull" ;;
	nginx) echo "dpkg:nginx:minor" ;;
	shop) echo "fixed:$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$REPO_DIR/examples/shop/shop/__init__.py")" ;;
	*) idie "unknown image '$1' (known: ${ALL_IMAGES[*]})" ;;
	esac
}

# The build context and the files whose content decides the image (relative to REPO_DIR).
image_context() {
	case "$1" in
	perfrun) echo "." ;;
	shop) echo "examples/shop" ;;
	*) echo "images/$1" ;;
	esac
}
image_inputs() {
	case "$1" in
	perfrun) echo "images/perfrun pyproject.toml operator/perfrun" ;;
	shop) echo "images/shop examples/shop/shop examples/shop/.containerignore" ;;
	*) echo "images/$1" ;;
	esac
}

base_recipe() {
	cat <<EOF
recipe=$IMAGES_RECIPE suite=$IMAGES_SUITE mirror=$IMAGES_MIRROR security=$IMAGES_SECURITY_MIRROR
$(declare -f make_base)
EOF
}

base_key() { base_recipe | sha256sum | cut -c1-12; }

inputs_hash() {
	local name="$1" paths
	read -r -a paths <<<"$(image_inputs "$name")"
	{
		echo "recipe=$IMAGES_RECIPE base=$(base_key) registry=$IMAGES_REGISTRY"
		(cd "$REPO_DIR" && find "${paths[@]}" -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 |
			LC_ALL=C sort -z | xargs -0 sha256sum)
	} | sha256sum | cut -c1-12
}

# A minbase Debian with the slim images' dpkg filters (no docs, man pages or locales, in
# this tree nor in anything apt installs later), no recommends, no apt caches kept, and
# services never started by package scripts.
make_base() {
	local out="$1"
	# shellcheck disable=SC2016 # the hooks expand $1 in mmdebstrap's shell
	mmdebstrap --variant=minbase --mode=root --format=tar \
		--dpkgopt='path-exclude=/usr/share/man/*' \
		--dpkgopt='path-exclude=/usr/share/doc/*' \
		--dpkgopt='path-include=/usr/share/doc/*/copyright' \
		--dpkgopt='path-exclude=/usr/share/info/*' \
		--dpkgopt='path-exclude=/usr/share/groff/*' \
		--dpkgopt='path-exclude=/usr/share/lintian/*' \
		--dpkgopt='path-exclude=/usr/share/linda/*' \
		--dpkgopt='path-exclude=/usr/share/locale/*' \
		--dpkgopt='path-include=/usr/share/locale/locale.alias' \
		--aptopt='APT::Install-Recommends "false"' \
		--aptopt='APT::Install-Suggests "false"' \
		--aptopt='Acquire::Languages "none"' \
		--aptopt='Binary::apt::APT::Keep-Downloaded-Packages "false"' \
		--customize-hook='printf "#!/bin/sh\nexit 101\n" > "$1/usr/sbin/policy-rc.d"; chmod 755 "$1/usr/sbin/policy-rc.d"' \
		--customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/log/*.log "$1"/var/log/apt/*' \
		"$IMAGES_SUITE" "$out" \
		"deb $IMAGES_MIRROR $IMAGES_SUITE main" \
		"deb $IMAGES_MIRROR $IMAGES_SUITE-updates main" \
		"deb $IMAGES_SECURITY_MIRROR $IMAGES_SUITE-security main"
}

# debian:<suite>-slim in the build storage, made once per base recipe. Worktrees and CI runs
# of other recipes share the cache: each keeps its base (by marker tag) and names it
# debian:<suite>-slim just before it builds (the builds hold the lock).
ensure_base() {
	local key tar marker ctr
	key="$(base_key)"
	marker="$IMAGES_REGISTRY/base:$IMAGES_SUITE-$key"
	if ! bh inspect --type image "$marker" >/dev/null 2>&1; then
		tar="$IMAGES_CACHE/base/debian-$IMAGES_SUITE-slim-$key.tar"
		if [ ! -s "$tar" ]; then
			ilog "making debian:$IMAGES_SUITE-slim with mmdebstrap (key $key)"
			mkdir -p "$(dirname "$tar")"
			make_base "$tar.tmp" >&2
			mv "$tar.tmp" "$tar"
			keep_newest 2 "$IMAGES_CACHE"/base/debian-"$IMAGES_SUITE"-slim-*.tar
		fi
		ilog "importing $tar as debian:$IMAGES_SUITE-slim"
		ctr="$(bh from scratch)"
		bh add "$ctr" "$tar" / >/dev/null
		bh config --cmd /bin/bash --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$ctr"
		bh commit --rm -q "$ctr" "$marker" >/dev/null
	fi
	bh tag "$marker" "localhost/debian:$IMAGES_SUITE-slim" "docker.io/library/debian:$IMAGES_SUITE-slim"
}

# Delete all but the N most recent of FILES (and their .ref files).
keep_newest() {
	local n="$1" old
	shift
	[ -e "${1:-}" ] || return 0
	# shellcheck disable=SC2012 # our own file names: no newlines
	for old in $(ls -t "$@" | tail -n +"$((n + 1))"); do
		rm -f "$old" "${old%.oci.tar}.ref"
	done
}

# The tag an image really carries (then its other true names), read from the built image.
read_version() {
	local name="$1" image="$2" source ctr mnt raw version
	source="$(image_version_source "$name")"
	case "$source" in
	fixed:*)
		echo "${source#fixed:}"
		return 0
		;;
	esac
	ctr="$(bh from --pull-never -q "$image")"
	mnt="$(bh mount "$ctr")"
	case "$source" in
	python:*)
		raw="$(sed -n 's/^Version: //p' "$mnt"/opt/perfrun/lib/python3*/site-packages/"${source#python:}"-*.dist-info/METADATA)"
		version="$raw"
		;;
	dpkg:*)
		local pkg cut
		pkg="$(cut -d: -f2 <<<"$source")"
		cut="$(cut -d: -f3 <<<"$source")"
		raw="$(dpkg-query --admindir="$mnt/var/lib/dpkg" -W -f='${Version}' "$pkg")"
		raw="${raw#*:}"             # epoch
		raw="${raw%%-*}"            # Debian revision
		raw="${raw%%[+~]*}"         # +ds, +dfsg, ~rc
		# The tag, then the other names that are just as true (17 -> also 17.12; 8.0 -> also
		# 8.0.2 and 8), so a spec may ask for any of them.
		case "$cut" in
		major) version="${raw%%.*} $raw" ;;
		minor) version="$(cut -d. -f1-2 <<<"$raw") $raw ${raw%%.*}" ;;
		vfull) version="v$raw" ;;
		*) version="$raw" ;;
		esac
		version="$(tr ' ' '\n' <<<"$version" | awk 'NF && !seen[$0]++' | paste -sd' ')"
		;;
	esac
	bh umount "$ctr" >/dev/null
	bh rm "$ctr" >/dev/null
	[ -n "$version" ] || idie "$name: cannot read its version ($source)"
	echo "$version"
}

# Export IMAGE as an OCI archive whose index names REF (and each ALIAS, the same manifest) both
# ways ctr import reads a name: io.containerd.image.name (used as is) and
# org.opencontainers.image.ref.name.
export_archive() {
	local image="$1" ref="$2" out="$3" dir
	shift 3
	dir="$(mktemp -d "$IMAGES_CACHE/.export.XXXXXX")"
	bh push -q "$image" "oci:$dir/layout:$ref" >/dev/null
	python3 - "$dir/layout/index.json" "$ref" "$@" <<'PY'
import copy, json, sys
path, refs = sys.argv[1], sys.argv[2:]
with open(path) as f:
    index = json.load(f)
(manifest,) = index["manifests"]
index["manifests"] = []
for ref in refs:
    named = copy.deepcopy(manifest)
    named.setdefault("annotations", {})
    named["annotations"]["io.containerd.image.name"] = ref
    named["annotations"]["org.opencontainers.image.ref.name"] = ref
    index["manifests"].append(named)
with open(path, "w") as f:
    json.dump(index, f, separators=(",", ":"))
PY
	tar -C "$dir/layout" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$out.tmp" .
	mv "$out.tmp" "$out"
	rm -rf "$dir"
}

# What RUN steps need to reach PyPI the way this host does: its CA bundle (a proxy's CA, where
# there is one) mounted read-only for the build only.
build_network_args() {
	local ca="${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}"
	if [ -s "$ca" ]; then
		printf '%s\n' --volume "$ca:/run/perfrun-build-ca.crt:ro" --build-arg PIP_CERT=/run/perfrun-build-ca.crt
	fi
}

# Build one image unless its archive for the current inputs exists. Prints nothing.
build_one() {
	local name="$1" key archive refile context tmp version ref started
	key="$(inputs_hash "$name")"
	archive="$IMAGES_CACHE/$name-$key.oci.tar"
	refile="$IMAGES_CACHE/$name-$key.ref"
	if [ -s "$archive" ] && [ -s "$refile" ]; then
		ilog "$name: up to date ($(cat "$refile"))"
		return 0
	fi
	ensure_base
	started=$SECONDS
	context="$(image_context "$name")"
	tmp="$IMAGES_REGISTRY/build/$name:$key"
	ilog "$name: building (inputs $key)"
	local extra=()
	mapfile -t extra < <(build_network_args)
	(cd "$REPO_DIR" && bh bud --isolation chroot --pull-never --layers=false -q "${extra[@]}" \
		-f "images/$name/Containerfile" -t "$tmp" "$context") >&2
	local tags aliases=() v
	read -r -a tags <<<"$(read_version "$name" "$tmp")"
	version="${tags[0]}"
	for v in "${tags[@]:1}"; do aliases+=("$IMAGES_REGISTRY/$name:$v"); done
	ref="$IMAGES_REGISTRY/$name:$version"
	export_archive "$tmp" "$ref" "$archive" "${aliases[@]}"
	bh rmi -f "$tmp" >/dev/null
	bh rmi --prune >/dev/null 2>&1 || true # no cache layers (--layers=false): nothing to keep
	echo "$ref" >"$refile"
	# a few versions stay, so worktrees with other inputs do not rebuild each other's
	keep_newest 3 "$IMAGES_CACHE/$name"-????????????.oci.tar
	ilog "$name: built $ref${aliases[*]:+ (also ${aliases[*]##*:})} in $((SECONDS - started)) s, $(du -h "$archive" | cut -f1) archive"
}

# images.tsv: name, reference, archive, for every image whose current archive exists.
write_tsv() {
	local name key archive refile
	: >"$IMAGES_TSV.tmp"
	for name in "${ALL_IMAGES[@]}"; do
		key="$(inputs_hash "$name")"
		archive="$IMAGES_CACHE/$name-$key.oci.tar"
		refile="$IMAGES_CACHE/$name-$key.ref"
		if [ -s "$archive" ] && [ -s "$refile" ]; then
			printf '%s\t%s\t%s\n' "$name" "$(cat "$refile")" "$archive" >>"$IMAGES_TSV.tmp"
		fi
	done
	mv "$IMAGES_TSV.tmp" "$IMAGES_TSV"
}

tsv_ref() { awk -F'\t' -v n="$1" '$1 == n { print $2 }' "$IMAGES_TSV"; }
