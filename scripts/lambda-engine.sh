# The container engine and the Lambda base image for `sam local` (scripts/sam-local). Source it.
#
#   start_engine DIR      the engine SAM talks to: the user's Docker when one answers (DOCKER_HOST or
#                         /var/run/docker.sock), else Debian's dockerd started here as root on a
#                         private socket in DIR (images kept in $SAM_LOCAL_CACHE/docker). Exports
#                         DOCKER_HOST and ENGINE_BRIDGE, the host address containers reach
#                         (host.docker.internal), where moto and the Stripe fake must listen.
#   stop_engine           stops what start_engine started, by process id, and leaves the machine as
#                         found: no containers, mounts, docker0, Docker's iptables chains, FORWARD
#                         policy or ip_forward change, or binfmt entry of ours.
#   ensure_base_image ARCH  public.ecr.aws/lambda/provided:al2023-ARCH: pulled where it can be, else
#                         a stand-in built here from Debian (debootstrap), cached. Sets BASE_IMAGE_KIND.

SAM_LOCAL_CACHE="${SAM_LOCAL_CACHE:-$HOME/.cache/billing-sam-local}"
ENGINE_PID="" ENGINE_DIR="" ENGINE_MADE_BRIDGE="" ENGINE_BINFMT="" ENGINE_FORWARD_POLICY="" ENGINE_IP_FORWARD=""
STANDIN_LABEL="org.usage-billing.stand-in"

apt_install() { # packages: installs those whose command is missing (Debian, as root)
  echo "== installing $* (Debian packages)"
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$@" >/dev/null
}

engine_answers() { docker info >/dev/null 2>&1; }

start_engine() {
  ENGINE_DIR="$1"
  if [ -n "${DOCKER_HOST:-}" ] && engine_answers || { [ -S /var/run/docker.sock ] && engine_answers; }; then
    echo "== using the running Docker engine (${DOCKER_HOST:-/var/run/docker.sock})"
  else
    [ "$(id -u)" = 0 ] || { echo "no Docker engine answers, and starting one needs root" >&2; return 1; }
    command -v dockerd >/dev/null || apt_install docker.io
    if ! ip link show docker0 >/dev/null 2>&1; then # then what dockerd changes is undone at the end
      ENGINE_MADE_BRIDGE=1
      ENGINE_FORWARD_POLICY=$(iptables -S FORWARD | awk 'NR == 1 {print $3}')
      ENGINE_IP_FORWARD=$(cat /proc/sys/net/ipv4/ip_forward)
    fi
    mkdir -p "$SAM_LOCAL_CACHE/docker"
    # --userland-proxy=false: a published port accepts connections only once the container listens
    # (SAM takes an accepted connection for a ready emulator, and the arm64 one under qemu is slow).
    dockerd --host "unix://$ENGINE_DIR/docker.sock" --data-root "$SAM_LOCAL_CACHE/docker" --userland-proxy=false \
      --exec-root "$ENGINE_DIR/exec" --pidfile "$ENGINE_DIR/docker.pid" >"$ENGINE_DIR/dockerd.log" 2>&1 &
    ENGINE_PID=$!
    export DOCKER_HOST="unix://$ENGINE_DIR/docker.sock"
    for _ in $(seq 1 120); do
      engine_answers && break
      kill -0 "$ENGINE_PID" 2>/dev/null || { cat "$ENGINE_DIR/dockerd.log" >&2; return 1; }
      sleep 0.25
    done
    engine_answers || { echo "dockerd did not answer; its log: $ENGINE_DIR/dockerd.log" >&2; return 1; }
    echo "== dockerd started on $DOCKER_HOST (pid $ENGINE_PID)"
  fi
  # Linux: containers reach the host at the bridge's address (host-gateway). Docker Desktop maps
  # host.docker.internal to the host's loopback.
  ENGINE_BRIDGE=$(ip -4 -o addr show docker0 2>/dev/null | awk '{split($4, a, "/"); print a[1]}')
  export ENGINE_BRIDGE="${ENGINE_BRIDGE:-127.0.0.1}"
}

stop_engine() {
  if [ -n "$ENGINE_PID" ]; then
    docker ps -aq | xargs -r docker rm -f >/dev/null 2>&1 || true
    kill "$ENGINE_PID" 2>/dev/null || true
    wait "$ENGINE_PID" 2>/dev/null || true
    ENGINE_PID=""
    # What dockerd mounted (network namespaces, overlays) under its folders, deepest first.
    findmnt -rn -o TARGET | grep -E "^($ENGINE_DIR|$SAM_LOCAL_CACHE/docker)" | sort -r \
      | xargs -r -n1 umount -l 2>/dev/null || true
    if [ -n "$ENGINE_MADE_BRIDGE" ]; then
      ip link delete docker0 2>/dev/null || true
      for table in filter nat; do # Docker's chains and the rules that jump to them or name docker0
        iptables-save -t "$table" | grep -v -E 'DOCKER|docker0' | iptables-restore -T "$table" 2>/dev/null || true
      done
      iptables -P FORWARD "${ENGINE_FORWARD_POLICY:-ACCEPT}" 2>/dev/null || true
      echo "$ENGINE_IP_FORWARD" >/proc/sys/net/ipv4/ip_forward 2>/dev/null || true
      ENGINE_MADE_BRIDGE=""
    fi
  elif [ -n "$ENGINE_DIR" ] && command -v docker >/dev/null; then
    # The user's engine: only SAM's containers (SAM removes them itself unless it was killed).
    docker ps -aq --filter "ancestor=$(rapid_image "${ENGINE_ARCH:-arm64}")" | xargs -r docker rm -f >/dev/null 2>&1 || true
  fi
  if [ -n "$ENGINE_BINFMT" ]; then
    update-binfmts --disable qemu-aarch64 >/dev/null 2>&1 || true
    [ "$ENGINE_BINFMT" = mounted ] && umount /proc/sys/fs/binfmt_misc 2>/dev/null || true
    ENGINE_BINFMT=""
  fi
}

base_image() { echo "public.ecr.aws/lambda/provided:al2023-$1"; }
rapid_image() { echo "public.ecr.aws/lambda/provided:al2023-rapid-$1"; }

# arm64 images on another machine run under qemu's user-mode emulation (binfmt_misc).
ensure_emulation() {
  local arch="$1"
  [ "$arch" = arm64 ] && [ "$(uname -m)" != aarch64 ] || return 0
  [ -x /usr/libexec/qemu-binfmt/aarch64-binfmt-P ] || apt_install qemu-user-static binfmt-support
  if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    ENGINE_BINFMT=mounted
  fi
  if ! grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null; then
    update-binfmts --enable qemu-aarch64
    ENGINE_BINFMT="${ENGINE_BINFMT:-enabled}"
  fi
}

ensure_base_image() {
  local arch="$1" image before after context rootfs
  ENGINE_ARCH="$arch"
  image=$(base_image "$arch")
  before=$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
  if timeout 120 docker pull --quiet --platform "linux/$arch" "$image" >/dev/null 2>&1; then
    BASE_IMAGE_KIND="the real Lambda base image $image (pulled)"
  elif [ -n "$before" ] && [ -z "$(docker image inspect -f "{{index .Config.Labels \"$STANDIN_LABEL\"}}" "$image")" ]; then
    BASE_IMAGE_KIND="the real Lambda base image $image (pulled before; the registry cannot be reached now)"
  else
    context="$SAM_LOCAL_CACHE/standin-$arch" # rootfs.tar: Debian's files, kept for the next engine
    if [ -z "$before" ]; then
      if [ ! -s "$context/rootfs.tar" ]; then
        command -v debootstrap >/dev/null || apt_install debootstrap
        rootfs="$ENGINE_DIR/rootfs-$arch"
        echo "== $image cannot be pulled: building a stand-in from Debian 12 ($arch; about a minute, once)"
        # debootstrap's first stage only: Debian's minimal system unpacked by this machine's tools,
        # its packages not configured (configuring them runs their scripts, under qemu for arm64:
        # ten minutes here). The functions need glibc, SAM's image build /bin/sh, mv and chmod.
        debootstrap --foreign --arch="$arch" --variant=minbase bookworm "$rootfs" \
          http://deb.debian.org/debian >"$ENGINE_DIR/debootstrap.log" 2>&1 \
          || { tail -20 "$ENGINE_DIR/debootstrap.log" >&2; return 1; }
        rm -rf "$rootfs/debootstrap" "$rootfs/var/cache/apt/archives/"*.deb \
          "$rootfs/usr/share/doc" "$rootfs/usr/share/man" "$rootfs/usr/share/locale"
        # The CA bundle (the same on every architecture), where Lambda's images have one too.
        mkdir -p "$rootfs/etc/ssl/certs"
        cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/" 2>/dev/null || true
        mkdir -p "$context"
        tar -C "$rootfs" -cf "$context/rootfs.partial" . && mv "$context/rootfs.partial" "$context/rootfs.tar"
        rm -rf "$rootfs"
      fi
      printf 'FROM scratch\nADD rootfs.tar /\nLABEL %s="debian bookworm minbase, unpacked"\nCMD ["/bin/sh"]\n' \
        "$STANDIN_LABEL" >"$context/Dockerfile"
      DOCKER_BUILDKIT=0 docker build --quiet --platform "linux/$arch" -t "$image" "$context" \
        >"$ENGINE_DIR/standin-build.log" 2>&1 || { cat "$ENGINE_DIR/standin-build.log" >&2; return 1; }
    fi
    BASE_IMAGE_KIND="a stand-in for $image built here: Debian 12's minimal system (glibc 2.36; Lambda's AL2023 has 2.34) under SAM's own Lambda emulator"
  fi
  after=$(docker image inspect -f '{{.Id}}' "$image")
  # SAM builds its emulation image (the base plus its runtime emulator) once; a new base needs a new one.
  [ "$before" = "$after" ] || docker rmi -f "$(rapid_image "$arch")" >/dev/null 2>&1 || true
}
