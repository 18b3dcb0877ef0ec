/**
 * libvirtd inside the testbed (harness option `libvirt: true`): a shell
 * prologue run in the guest's chroot before the command. The chroot is the
 * host root over read-only 9p, so everything libvirtd writes gets a tmpfs
 * or a writable copy first (see "libvirt inside the multi-NUMA testbed" in
 * platform-facts.md):
 *
 * - tmpfs over /var/lib/libvirt, /var/log, /var/cache, /var/lib/virt-tier
 *   and /etc/virt-tier (the hook's conf); /run is a tmpfs already;
 * - a copy of /etc/libvirt bind-mounted over it, with a qemu.conf that runs
 *   QEMU as root without a security driver (there is no AppArmor/SELinux in
 *   the testbed, and a QEMU running as libvirt-qemu could not read the
 *   guest images under the checkout), so `virt-tier install-hook` can write
 *   its hook into hooks/qemu.d/;
 * - /etc/passwd and /etc/group copies with the libvirt-qemu user and the kvm
 *   group added when the host lacks them (libvirtd refuses to start
 *   without them);
 * - hugetlbfs is mounted on /dev/hugepages by guest-init.ts before the
 *   command starts, so libvirtd sees it at its start (it looks only once),
 *   and the per-node pools are reserved by then too;
 * - QEMU's capabilities cache (/var/cache/libvirt/qemu/capabilities) is
 *   seeded from the run directory when the harness put a copy there
 *   (`LIBVIRT_CAPS_DIR`), and copied back after libvirtd answered: probing
 *   QEMU under nested TCG is the largest part of libvirtd's start;
 * - then `virtlogd -d`, `libvirtd -d`, and a wait until qemu:///system
 *   answers.
 *
 * The prologue fails the command (exit 124, a line on stderr naming what)
 * when libvirtd or QEMU is missing on the host or libvirtd does not come
 * up; `scripts/setup-testbed.sh --libvirt` installs the packages.
 */

/** Exit code of the command when the libvirt prologue failed. */
export const LIBVIRT_SETUP_FAILED = 124;

/** Inside the run directory: where the harness puts (and finds) QEMU's capabilities cache. */
export const LIBVIRT_CAPS_DIR = 'libvirt-caps';

export const LIBVIRT_SETUP = `# --- libvirt prologue (test/testbed/libvirt-setup.ts) ---
vt_lv_fail() { echo "testbed libvirt: $*" >&2; exit ${LIBVIRT_SETUP_FAILED}; }
vt_lv_t0=$(date +%s.%N)
for bin in libvirtd virtlogd virsh qemu-system-x86_64; do
  command -v $bin >/dev/null 2>&1 || vt_lv_fail "$bin is not installed on the host; run scripts/setup-testbed.sh --libvirt"
done
[ -e /usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so ] || vt_lv_fail "libvirt's QEMU driver (libvirt-daemon-driver-qemu) is not installed on the host; run scripts/setup-testbed.sh --libvirt"
for d in /var/lib/libvirt /var/log /var/cache /var/lib/virt-tier /etc/virt-tier; do
  [ -d $d ] || continue
  mount -t tmpfs -o mode=0755 tmpfs $d || vt_lv_fail "tmpfs over $d"
done
mkdir -p /var/log/libvirt/qemu /var/lib/libvirt/qemu /var/lib/libvirt/images /var/cache/libvirt/qemu/capabilities /run/libvirt
vt_lv_etc=/run/virt-tier-testbed-etc-libvirt
mkdir -p $vt_lv_etc
cp -a /etc/libvirt/. $vt_lv_etc/ 2>/dev/null
mkdir -p $vt_lv_etc/hooks
cat > $vt_lv_etc/qemu.conf <<'EOF'
# written by the testbed's libvirt prologue: no security driver, QEMU as root
security_driver = "none"
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
EOF
mount --bind $vt_lv_etc /etc/libvirt || vt_lv_fail "bind a writable /etc/libvirt"
if ! getent passwd libvirt-qemu >/dev/null || ! getent group kvm >/dev/null || ! getent group libvirt-qemu >/dev/null; then
  cp /etc/passwd /run/virt-tier-testbed-passwd && cp /etc/group /run/virt-tier-testbed-group
  getent group kvm >/dev/null || echo 'kvm:x:995:' >> /run/virt-tier-testbed-group
  getent group libvirt-qemu >/dev/null || echo 'libvirt-qemu:x:994:' >> /run/virt-tier-testbed-group
  getent passwd libvirt-qemu >/dev/null || echo 'libvirt-qemu:x:999:994::/var/lib/libvirt:/usr/sbin/nologin' >> /run/virt-tier-testbed-passwd
  mount --bind /run/virt-tier-testbed-passwd /etc/passwd && mount --bind /run/virt-tier-testbed-group /etc/group || vt_lv_fail "bind /etc/passwd, /etc/group with libvirt-qemu and kvm"
fi
awk '$2 == "/dev/hugepages" && $3 == "hugetlbfs" { f = 1 } END { exit !f }' /proc/mounts || vt_lv_fail "hugetlbfs is not mounted on /dev/hugepages"
if [ -d "$VIRT_TIER_TESTBED_RUN_DIR/${LIBVIRT_CAPS_DIR}" ]; then
  cp "$VIRT_TIER_TESTBED_RUN_DIR/${LIBVIRT_CAPS_DIR}"/*.xml /var/cache/libvirt/qemu/capabilities/ 2>/dev/null
fi
virtlogd -d || vt_lv_fail "virtlogd -d failed"
libvirtd -d || vt_lv_fail "libvirtd -d failed"
vt_lv_up=0
for _ in $(seq 1200); do
  if virsh -q -c qemu:///system uri >/dev/null 2>&1; then vt_lv_up=1; break; fi
  sleep 0.1
done
[ $vt_lv_up = 1 ] || vt_lv_fail "libvirtd did not answer on qemu:///system within 120 s"
# The capabilities are probed on the first request that needs them: ask now, so the cost is paid (and cached) here.
virsh -q -c qemu:///system domcapabilities --virttype qemu >/dev/null 2>&1 || vt_lv_fail "libvirtd could not probe /usr/bin/qemu-system-x86_64 (virsh domcapabilities --virttype qemu)"
mkdir -p "$VIRT_TIER_TESTBED_RUN_DIR/${LIBVIRT_CAPS_DIR}" && cp /var/cache/libvirt/qemu/capabilities/*.xml "$VIRT_TIER_TESTBED_RUN_DIR/${LIBVIRT_CAPS_DIR}/" 2>/dev/null
echo "testbed libvirt: libvirtd up in $(awk -v a=$vt_lv_t0 -v b=$(date +%s.%N) 'BEGIN { printf "%.1f", b - a }') s" >&2
unset vt_lv_t0 vt_lv_up vt_lv_etc
# --- end of the libvirt prologue ---
`;
