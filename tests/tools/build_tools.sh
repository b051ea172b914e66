#!/usr/bin/env bash
# Builds, from source through the Go module proxy, the real tools the tests run: the Kubernetes control plane
# (kube-apiserver, kube-controller-manager, kube-scheduler) with a kubectl of the same release, etcd and helm.
# Each tool lands once in ${EVENTS_INGESTER_TOOLS_DIR:-$HOME/.cache/events-ingester/tools}/<name>-<version>/ and is
# built again only when its version below changes.
#
#   build_tools.sh           build what is missing, print what was built and how long it took
#   build_tools.sh --paths   print "<binary> <version> <path>" for every binary; builds nothing, needs no Go
#
# Exit codes: 0 done, 1 a build failed, 2 bad arguments, 3 a binary is missing and Go is not on PATH to build it.
set -euo pipefail

KUBERNETES_VERSION=v1.36.3
ETCD_VERSION=v3.6.17
HELM_VERSION=v4.3.2
EXIT_NO_GO=3

tools_dir="${EVENTS_INGESTER_TOOLS_DIR:-$HOME/.cache/events-ingester/tools}"
kube_dir="${tools_dir}/kubernetes-${KUBERNETES_VERSION}"
etcd_dir="${tools_dir}/etcd-${ETCD_VERSION}"
helm_dir="${tools_dir}/helm-${HELM_VERSION}"
kube_binaries=(kube-apiserver kube-controller-manager kube-scheduler kubectl)

print_paths() {
  local binary
  for binary in "${kube_binaries[@]}"; do echo "${binary} ${KUBERNETES_VERSION} ${kube_dir}/${binary}"; done
  echo "etcd ${ETCD_VERSION} ${etcd_dir}/etcd"
  echo "helm ${HELM_VERSION} ${helm_dir}/helm"
}

has_all() {
  local dir=$1; shift
  local binary
  for binary in "$@"; do [ -x "${dir}/${binary}" ] || return 1; done
}

is_built() {
  has_all "$kube_dir" "${kube_binaries[@]}" && has_all "$etcd_dir" etcd && has_all "$helm_dir" helm
}

# Prints the time the module proxy gives for module@version ("2026-07-22T18:07:38Z"): the release's build date.
module_time() {
  go list -m -json "$1" | sed -nE 's/^\s*"Time": "([^"]+)".*/\1/p'
}

# Creates a temporary main module beside the cache so the final rename is atomic; prints its path.
new_build_module() {
  local dir
  dir=$(mktemp -d "${tools_dir}/.build-XXXXXX")
  printf 'module events-ingester.local/tools\n\ngo %s\n' "$1" >"${dir}/go.mod"
  echo "$dir"
}

# Installs the binaries built into $1 as the directory $2, replacing a partial earlier one.
install_dir() {
  local built=$1 target=$2
  rm -rf "$target" && mv "$built" "$target"
}

build_kubernetes() {
  local version=$KUBERNETES_VERSION
  local minor=${version#v1.}; minor=${minor%%.*}
  local staging_version="v0.${version#v1.}"
  local mod_file build out time
  time=$(module_time "k8s.io/kubernetes@${version}")
  [ -n "$time" ] || { echo "Cannot read the release time of k8s.io/kubernetes@${version}" >&2; return 1; }
  mod_file=$(go mod download -json "k8s.io/kubernetes@${version}" | sed -nE 's/^\s*"GoMod": "([^"]+)".*/\1/p')
  [ -f "$mod_file" ] || { echo "Cannot download k8s.io/kubernetes@${version}" >&2; return 1; }
  build=$(new_build_module "$(sed -nE 's/^go ([0-9.]+)$/\1/p' "$mod_file")") || return 1
  out="${build}/bin"
  mkdir -p "$out" || return 1
  {
    # k8s.io/kubernetes requires its staging modules as v0.0.0 and replaces them with ./staging paths, which only
    # apply inside its own repository: pin each to the release published with it instead.
    grep -E '^godebug ' "$mod_file" || true
    echo "require k8s.io/kubernetes ${version}"
    sed -nE 's#^\s+(k8s\.io/[a-z0-9-]+) v0\.0\.0$#replace \1 => \1 '"${staging_version}"'#p' "$mod_file"
  } >>"${build}/go.mod" || return 1
  local ldflags="-s -w" key value
  for pair in "gitVersion=${version}" "gitMajor=1" "gitMinor=${minor}" "gitTreeState=archive" "buildDate=${time}"; do
    key=${pair%%=*}; value=${pair#*=}
    ldflags+=" -X k8s.io/component-base/version.${key}=${value} -X k8s.io/client-go/pkg/version.${key}=${value}"
  done
  local packages=()
  for binary in "${kube_binaries[@]}"; do packages+=("k8s.io/kubernetes/cmd/${binary}"); done
  (cd "$build" && nice -n 10 go build -trimpath -ldflags="$ldflags" -o "$out/" "${packages[@]}") || return 1
  install_dir "$out" "$kube_dir" || return 1
  rm -rf "$build"
}

build_etcd() {
  local build
  build=$(new_build_module 1.26.0) || return 1
  echo "require go.etcd.io/etcd/server/v3 ${ETCD_VERSION}" >>"${build}/go.mod"
  mkdir -p "${build}/bin" || return 1
  (cd "$build" && nice -n 10 go build -trimpath -ldflags="-s -w" -o "${build}/bin/etcd" go.etcd.io/etcd/server/v3) ||
    return 1
  install_dir "${build}/bin" "$etcd_dir" || return 1
  rm -rf "$build"
}

build_helm() {
  local build ldflags
  build=$(new_build_module 1.26.0) || return 1
  echo "require helm.sh/helm/v4 ${HELM_VERSION}" >>"${build}/go.mod"
  mkdir -p "${build}/bin" || return 1
  ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=${HELM_VERSION} \
-X helm.sh/helm/v4/internal/version.gitTreeState=archive"
  (cd "$build" && nice -n 10 go build -trimpath -ldflags="$ldflags" -o "${build}/bin/helm" helm.sh/helm/v4/cmd/helm) ||
    return 1
  install_dir "${build}/bin" "$helm_dir" || return 1
  rm -rf "$build"
}

# Runs build_<tool> unless every binary of it is already in place; prints what it did and how long it took. The
# build functions check each step themselves: called in a condition, they run without errexit.
ensure() {
  local tool=$1 version=$2 dir=$3; shift 3
  if has_all "$dir" "$@"; then
    echo "== ${tool} ${version}: cached in ${dir}"
    return 0
  fi
  echo "== ${tool} ${version}: building $* into ${dir}"
  local started=$SECONDS
  if ! "build_${tool}"; then
    echo "Cannot build ${tool} ${version}: go build failed (see above)" >&2
    return 1
  fi
  echo "== ${tool} ${version}: built in $((SECONDS - started)) s ($(du -sh "$dir" | cut -f1))"
}

main() {
  case "${1:-}" in
    --paths) print_paths; exit 0 ;;
    "") ;;
    *) echo "Cannot build tools: unknown argument '$1' (expected nothing or --paths)" >&2; exit 2 ;;
  esac

  if ! is_built && ! command -v go >/dev/null 2>&1; then
    echo "Cannot build tools: Go is not on PATH (install Go 1.26 or later, or fill ${tools_dir} from a machine" \
      "that has it)" >&2
    exit "$EXIT_NO_GO"
  fi

  # Never download a toolchain, never call cgo, never stamp VCS data of the temp module; the build is CPU heavy on a
  # shared machine, so it runs niced and at most two packages at a time.
  export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false -p=2"
  mkdir -p "$tools_dir"
  exec 9>"${tools_dir}/.lock"
  if command -v flock >/dev/null 2>&1; then flock 9; fi # one build at a time: a second caller waits, then finds them
  rm -rf "${tools_dir}"/.build-* # left by a build that was killed
  trap 'rm -rf "${tools_dir}"/.build-*' EXIT

  local started=$SECONDS status=0
  ensure kubernetes "$KUBERNETES_VERSION" "$kube_dir" "${kube_binaries[@]}" || status=1
  ensure etcd "$ETCD_VERSION" "$etcd_dir" etcd || status=1
  ensure helm "$HELM_VERSION" "$helm_dir" helm || status=1
  echo "== tools in ${tools_dir} after $((SECONDS - started)) s ($(du -sh "$tools_dir" | cut -f1))"
  return $status
}

# One line, read whole before it runs: bash reads a script as it goes, so an edit during a long build cannot change
# what runs after it.
main "$@"; exit $?
