/**
 * The testbed guest's /init (busybox sh, PID 1 in the initramfs).
 *
 * It mounts the host root read-only (9p tag `host`) and the run directory
 * read-write (9p tag `run`), reserves the requested hugetlb pages per node,
 * then runs /tmp/testbed/cmd.sh in a chroot of the host root with fresh
 * proc, sys, devtmpfs, hugetlbfs and tmpfs /tmp, /run. A host directory
 * named in KEEP_DIRS (the checkout, when it lives under /tmp or /run) is
 * bind-mounted aside before those tmpfs mounts and back over them after,
 * so a checkout under /tmp stays visible in the chroot. The command's stdout,
 * stderr and exit code go to files in the run directory; the console
 * (ttyS0, a file on the host) only carries progress lines and kernel
 * messages, for diagnosis when something fails before the command ran.
 *
 * Any failure before the command runs writes `init-error` to the run
 * directory (when mounted) and powers off, so the host never waits for the
 * timeout on a broken setup.
 */

export const GUEST_RUN_DIR = '/tmp/testbed';

export const GUEST_INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
say() { echo "virt-tier-testbed: $*"; }
die() {
  say "FAILED: $*"
  [ -d /mnt/run/. ] && echo "$*" > /mnt/run/init-error
  sync
  poweroff -f
  sleep 5
}
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in netfs 9pnet 9pnet_virtio 9p; do
  insmod /lib/modules/$m.ko || die "insmod $m"
done
mkdir -p /mnt/host /mnt/run
# msize: 9p's default 8 KiB message size makes loading node's 100 MB binary
# slow; 512 KiB is what virtio allows comfortably.
mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288,cache=loose,ro host /mnt/host || die "mount 9p host"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288 run /mnt/run || die "mount 9p run"
. /mnt/run/setup.env
for spec in $HUGEPAGES; do
  node=\${spec%%:*}
  count=\${spec#*:}
  f=/sys/devices/system/node/node$node/hugepages/hugepages-2048kB/nr_hugepages
  [ -w "$f" ] || die "no hugepage pool for node $node"
  echo "$count" > "$f"
done
for d in /sys/devices/system/node/node[0-9]*; do
  echo "\${d##*node} $(cat $d/hugepages/hugepages-2048kB/nr_hugepages)"
done > /mnt/run/hugepages
r=/mnt/host
# The tmpfs mounts below hide whatever the host has under /tmp and /run:
# hold each kept directory by a bind mount first, put it back after.
i=0
for keep in $KEEP_DIRS; do
  mkdir -p /mnt/keep/$i
  mount --bind "$r$keep" /mnt/keep/$i || die "bind $keep aside"
  i=$((i + 1))
done
mount -t proc proc $r/proc || die "mount proc"
mount -t sysfs sys $r/sys || die "mount sys"
mount -t devtmpfs dev $r/dev || die "mount dev"
mkdir -p $r/dev/pts $r/dev/shm $r/dev/hugepages
mount -t devpts devpts $r/dev/pts
mount -t tmpfs shm $r/dev/shm
mount -t hugetlbfs hugetlbfs $r/dev/hugepages
mount -t tmpfs tmp $r/tmp || die "mount tmp"
mount -t tmpfs run $r/run || die "mount run"
i=0
for keep in $KEEP_DIRS; do
  mkdir -p "$r$keep" || die "mkdir $keep"
  mount --bind /mnt/keep/$i "$r$keep" || die "bind $keep back"
  i=$((i + 1))
done
mkdir -p $r${GUEST_RUN_DIR}
mount --bind /mnt/run $r${GUEST_RUN_DIR} || die "bind run dir"
say "running command"
chroot $r /bin/sh ${GUEST_RUN_DIR}/cmd.sh < /dev/null > /mnt/run/stdout 2> /mnt/run/stderr
echo $? > /mnt/run/exit-code
say "command exited"
sync
poweroff -f
sleep 5
`;
