//! Attacks on the masks and read-only paths that hide the host's
//! kernel state: unmount them, mount a fresh proc or sysfs beside them,
//! remount them writable. The container's root holds CAP_SYS_ADMIN in
//! its user namespace and, on a host without AppArmor, nothing but the
//! kernel's locked mounts stands in its way.

use super::Suite;
use vpsos::Container;

pub fn attacks(s: &mut Suite, ct: &Container) {
    s.attempt(
        ct,
        "unmount the masks over /proc and /sys and read what they hide",
        "for m in /proc/timer_list /proc/keys /proc/sched_debug /sys/firmware /proc/acpi /proc/scsi; do \
           grep -q \" $m \" /proc/self/mountinfo && { echo MASKED $m; umount $m || umount -l $m; }; done; \
         cat /proc/timer_list 2>/dev/null | head -c 1 | grep -q . && echo REVEALED timer_list; \
         ls /sys/firmware 2>/dev/null | grep -q . && echo REVEALED firmware; \
         cat /sys/firmware/memmap/0/start 2>/dev/null && echo REVEALED memmap; true",
        |out| out.contains("MASKED") && !out.contains("REVEALED"),
    );
    s.attempt(
        ct,
        "mount a fresh proc around the masked paths",
        "mkdir -p /tmp/p && mount -t proc proc /tmp/p; echo mount=$?; \
         grep -q ' /tmp/p ' /proc/self/mountinfo && { echo 77 > /tmp/p/sys/kernel/panic && echo WROTE; \
           head -c 1 /tmp/p/timer_list >/dev/null && echo READ; umount /tmp/p; }; true",
        |out| out.contains("mount=") && !out.contains("WROTE") && !out.contains("READ"),
    );
    s.attempt(
        ct,
        "mount a new sysfs read-write and write it",
        "mkdir -p /tmp/s && mount -t sysfs sysfs /tmp/s; echo mount=$?; \
         grep -q ' /tmp/s ' /proc/self/mountinfo && { echo 1 > /tmp/s/kernel/rcu_expedited && echo WROTE; \
           ls /tmp/s/firmware | grep -q . && echo REVEALED; umount /tmp/s; }; true",
        |out| out.contains("mount=") && !out.contains("WROTE") && !out.contains("REVEALED"),
    );
    s.attempt(
        ct,
        "remount the read-only /proc/sys writable",
        "mount -o remount,rw /proc/sys; echo remount=$?; mount -o remount,rw,bind /proc/sys; \
         umount /proc/sys || umount -l /proc/sys; echo 77 > /proc/sys/kernel/panic && echo WROTE; true",
        |out| out.contains("remount=") && !out.contains("WROTE"),
    );
}
