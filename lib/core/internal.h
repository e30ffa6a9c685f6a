/* SPDX-License-Identifier: MIT */
/* The core's internals: VMs, vCPUs, memory, buses and device instances, for
 * lib/core and the layers built on it (boot, snapshot, spec, sandbox, fuzz).
 * Device models use devhost.h instead. (Never installed.) */
#ifndef LIBVMM_INTERNAL_H
#define LIBVMM_INTERNAL_H

#include <libvmm/vmm.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "../hv/hv.h"
#include "devhost.h"
#include "util.h"

/* ---- memory (memory.c) ---- */
struct vmm__region {
    uint64_t gpa, size;
    uint8_t *host;
    unsigned int flags;
    unsigned int slot; /* the backend's number for it (mem_add) */
    bool owned;        /* libvmm allocated it */
    void *map_base;    /* start of the reservation including guard pages */
    size_t map_len;
    int memfd;
    /* For snapshots: pages written since the last snapshot take or restore that
     * KVM's dirty log does not hold (host writes, and guest writes a
     * vmm_mem_dirty_log() call already fetched); NULL until a snapshot tracks
     * the region. Bits are set atomically (writers hold mem_lock shared). */
    uint64_t *snap_dirty;
};

/* Checked translation: the host pointer for [gpa, gpa+len) when it lies in one
 * region, else NULL. Caller holds vm->mem_lock. */
VMM__HIDDEN const struct vmm__region *vmm__mem_find(const vmm_vm *vm, uint64_t gpa, uint64_t len);
/* True if [gpa, gpa+len) overlaps any RAM region. Caller holds mem_lock. */
VMM__HIDDEN bool vmm__mem_overlaps(const vmm_vm *vm, uint64_t gpa, uint64_t len);
/* Copy guest memory; for_device: refuse writes to read-only regions. */
VMM__HIDDEN int vmm__mem_access(vmm_vm *vm, uint64_t gpa, void *buf, size_t len, bool write,
                                bool for_device);
VMM__HIDDEN void vmm__mem_free_all(vmm_vm *vm);
/* For snapshots; the caller holds mem_lock for writing and no vCPU runs.
 * Make every region record writes: KVM dirty logging on (the region gains
 * VMM_MEM_DIRTY_LOG) and a host-dirty bitmap; size vm->snap_scratch for the
 * largest region. Allocates only for regions not tracked yet. */
VMM__HIDDEN int vmm__mem_track(vmm_vm *vm);
/* The pages of region i written since the last call (KVM's log | host
 * writes) into vm->snap_scratch, and forget them. The region must be tracked. */
VMM__HIDDEN int vmm__mem_take_dirty(vmm_vm *vm, size_t i);
/* Make KVM drop every shadow page table of the VM (with shadow paging, KVM
 * does not notice host writes to guest page tables). Caller holds mem_lock
 * for writing and no vCPU runs. */
VMM__HIDDEN int vmm__mem_flush_shadow(vmm_vm *vm);

/* ---- I/O bus and dispatch (bus.c) ---- */
struct vmm__range {
    uint64_t base, len;
    vmm_device *dev;
    unsigned int index; /* the device's range number */
};
struct vmm__bus {
    struct vmm__range *r; /* sorted by base, disjoint */
    size_t n, cap;
};
VMM__HIDDEN int vmm__bus_add(struct vmm__bus *bus, uint64_t base, uint64_t len, vmm_device *dev,
                             unsigned int index);
VMM__HIDDEN const struct vmm__range *vmm__bus_find(const struct vmm__bus *bus, uint64_t addr,
                                                   uint64_t len);
VMM__HIDDEN void vmm__bus_remove_device(struct vmm__bus *bus, const vmm_device *dev);
VMM__HIDDEN void vmm__bus_free(struct vmm__bus *bus);
/* Serve an IO or MMIO exit from the buses. Returns true if a device claimed it
 * (the access is complete), false if it must go to the caller. */
VMM__HIDDEN bool vmm__dispatch(const struct vmm__bus *pio, const struct vmm__bus *mmio,
                               vmm_exit *exit);
/* Whether a device asked to stop the run during dispatch on this thread; clears it. */
VMM__HIDDEN bool vmm__dispatch_take_stop(int *status);

/* ---- devices (device.c) ---- */
/* What a device reaches outside itself; a VM provides one, unit tests a fake. */
struct vmm__devhost {
    int (*mem_read)(void *ctx, uint64_t gpa, void *buf, size_t len);
    int (*mem_write)(void *ctx, uint64_t gpa, const void *buf, size_t len);
    int (*set_irq)(void *ctx, unsigned int line, int level);
    /* Register a claimed range; may refuse (overlap). */
    int (*claim)(void *ctx, vmm_device *dev, vmm_space space, uint64_t base, uint64_t len,
                 unsigned int index);
    /* Forget every range of dev (its create() failed after claiming). */
    void (*release)(void *ctx, vmm_device *dev);
    /* Optional (NULL: not available; both may answer VMM_ENOTSUP). irqfd:
     * make a write to the eventfd fd assert line until the guest's EOI, when
     * the line is de-asserted and resamplefd signalled; or undo that.
     * ioeventfd: make a 4-byte guest write of value at MMIO address addr
     * signal the eventfd fd instead of exiting; or undo that. */
    int (*irqfd)(void *ctx, unsigned int line, int fd, int resamplefd, bool assign);
    int (*ioeventfd)(void *ctx, uint64_t addr, uint32_t value, int fd, bool assign);
    /* Devices made on this host only check a configuration
     * (vmm_device_checking()): they open no host resource. */
    bool check_only;
};

/* A device's interrupt line driven through an irqfd (device.c). */
struct vmm__irqfd {
    unsigned int line;
    int fd, resamplefd;
    bool level;    /* what the device last asked for */
    bool asserted; /* written to fd, and no EOI (resample) seen since */
};
/* A doorbell (vmm__device_doorbell): a guest write KVM turns into a signal
 * of fd, which the device host's I/O thread serves. */
struct vmm__doorbell {
    uint64_t addr;
    uint32_t value;
    int fd, watch; /* the eventfd, its entry on the device's host I/O thread */
    bool on;       /* registered with the host */
    vmm__doorbell_fn fn;
    void *ctx;
};
#define VMM__DEVICE_MAX_IRQFDS    4
#define VMM__DEVICE_MAX_DOORBELLS 8

#define VMM__DEVICE_MAX_RANGES 16
struct vmm_device {
    const vmm_device_ops *ops;
    void *state;
    char id[32];
    const struct vmm__devhost *host;
    void *host_ctx;
    pthread_mutex_t lock;
    unsigned int nranges;
    struct {
        vmm_space space;
        uint64_t base, len;
    } ranges[VMM__DEVICE_MAX_RANGES];
    struct vmm__ratelimit rl;
    char error[160]; /* set by vmm_device_error() during create/load */
    vmm_device *next;
    /* Eventfds the device host drives for the device, all guarded by the
     * device lock, and the I/O thread that watches them (started at the first
     * need, stopped before the type's destroy()). */
    struct vmm__io *hostio;
    bool irqfd_wanted;      /* vmm__device_use_irqfd() */
    bool host_closed;       /* being destroyed: no new eventfds */
    uint32_t irqfd_refused; /* lines whose irqfd failed: KVM_IRQ_LINE for good */
    unsigned int nirqfds, ndoorbells;
    struct vmm__irqfd irqfd[VMM__DEVICE_MAX_IRQFDS];
    struct vmm__doorbell doorbell[VMM__DEVICE_MAX_DOORBELLS];
};

/* Create a device with an explicit host (detached from any VM when host_ctx is
 * not a VM); used by vmm_device_attach() and by unit tests. */
VMM__HIDDEN int vmm__device_new(const char *type, const char *config_json,
                                const struct vmm__devhost *host, void *host_ctx,
                                const char *default_id, vmm_device **out);
/* The same from a parsed configuration object (NULL: defaults), which stays
 * the caller's: a built-in type gets it as it is, another type as text. */
VMM__HIDDEN int vmm__device_new_obj(const char *type, struct json_object *cfg,
                                    const struct vmm__devhost *host, void *host_ctx,
                                    const char *default_id, vmm_device **out);
/* vmm_device_attach() from a parsed configuration object (see above). */
VMM__HIDDEN int vmm__device_attach_obj(vmm_vm *vm, const char *type, struct json_object *cfg,
                                       vmm_device **out);
VMM__HIDDEN void vmm__device_free(vmm_device *dev);
/* Stop the device's host I/O thread and undo every irqfd and doorbell
 * (devhost.c); before the type's destroy(). */
VMM__HIDDEN void vmm__device_host_teardown(vmm_device *dev);
/* The host a VM gives its devices (devhost.c); its ctx is the vmm_vm. */
extern VMM__HIDDEN const struct vmm__devhost vmm__vm_devhost;
/* The reason the last failing create() on this thread gave with
 * vmm_device_error() ("" if none, e.g. a refused range claim). */
VMM__HIDDEN const char *vmm__device_last_error(void);
/* Access a device as the bus does (takes its lock). */
VMM__HIDDEN int vmm__device_access(vmm_device *dev, unsigned int range, uint64_t offset, void *data,
                                   unsigned int size, bool write);

/* vmm_device_save()/vmm_device_load() with the device's lock already held. */
VMM__HIDDEN int vmm__device_save_locked(vmm_device *dev, void *buf, size_t cap, size_t *len);
VMM__HIDDEN int vmm__device_load_locked(vmm_device *dev, const void *buf, size_t len);
/* Take (lock) or release every device lock of the VM, always in the same
 * order: while a snapshot is taken or restored no device's I/O thread may
 * touch guest memory or its device between the device's state and the
 * memory. A device lock is taken before the VM's mem_lock, never after. */
VMM__HIDDEN void vmm__vm_devices_lock(struct vmm_vm *vm, bool lock);

/* ---- VM and vCPU ---- */
#define VMM__MAX_VCPUS 256

struct vmm_vcpu {
    vmm_vm *vm;
    unsigned int index;
    struct vmm__hv_vcpu *hv; /* the vCPU in the VM's backend (vm->hv) */
    atomic_int runner;       /* thread id of the thread in vmm_vcpu_run(), 0 if none */
    atomic_bool kick;
    pthread_mutex_t kick_lock; /* orders a kick against the runner leaving */
    uint64_t budget_ns;
    bool timer_armed; /* the backend's kick_at() is set for this run */
    bool io_pending;  /* last exit was an unclaimed read: next run completes it */
    /* Exception reporting installed by vmm_x86_setup(): 0 none, 32 or 64 (the
     * handlers' bitness); the handler stubs' guest address. */
    unsigned int exc_bits;
    uint64_t exc_stubs;
};

/* Exception reporting (vmm_x86_setup's VMM_X86_EXCEPTIONS_REPORT): handler
 * stub v at exc_stubs + v * VMM__EXC_STUB_SIZE writes v to this port. */
#define VMM__EXC_PORT      0xef
#define VMM__EXC_VECTORS   32
#define VMM__EXC_STUB_SIZE 16

/* Whether the CPU pushes an error code for this exception vector. */
static inline bool vmm__x86_has_error_code(unsigned int vector)
{
    return vector == 8 || (vector >= 10 && vector <= 14) || vector == 17 || vector == 21 ||
           vector == 29 || vector == 30;
}

/* x86 set-up pieces shared with the sandbox (lib/boot/x86_setup.c): a flat
 * 4 GiB segment, and TR (a busy TSS) plus an unusable LDT. */
VMM__HIDDEN vmm_segment vmm__x86_flat_seg(uint16_t sel, unsigned int type, unsigned int dpl, bool l,
                                          bool db);
VMM__HIDDEN void vmm__x86_system_segs(vmm_sregs *s, uint64_t tss, uint32_t limit, uint16_t sel);

struct vmm_vm {
    const struct vmm__hv_ops *hv; /* the hypervisor backend (hv.h) */
    struct vmm__hv_vm *hvm;       /* this VM in it */
    unsigned int flags;
    uint64_t memory_limit, mapped_bytes;
    bool cap_readonly_mem;
    bool cap_irqfd, cap_ioeventfd; /* irqfds with resampling; ioeventfds */
    pthread_rwlock_t mem_lock;
    struct vmm__region *regions; /* sorted by gpa */
    size_t nregions, regions_cap;
    struct vmm__bus pio, mmio;
    vmm_device *devices;
    unsigned int ndevices;
    vmm_vcpu *vcpus[VMM__MAX_VCPUS];
    unsigned int nvcpus, max_vcpus;
    atomic_bool stop;
    atomic_bool in_run;
    atomic_bool paused;
    pthread_mutex_t pause_lock;
    pthread_cond_t pause_cond;  /* run threads wait on it while paused */
    pthread_cond_t parked_cond; /* vmm_vm_pause waits on it for them to park */
    unsigned int run_threads;   /* live vmm_vm_run threads (pause_lock) */
    unsigned int parked;        /* of those, how many are parked (pause_lock) */
    vmm_sched sched;
    /* Snapshots (lib/snapshot). */
    /* Id of the snapshot this VM's memory equals, apart from the pages its
     * regions record as written; 0 if none (nothing taken or restored since the
     * memory map changed). */
    uint64_t snap_baseline;
    uint64_t *snap_scratch; /* a dirty bitmap for the largest region */
    size_t snap_scratch_words;
    vmm_snapshot_stats snap_stats; /* of the last restore */
    int snap_shadow; /* KVM shadows guest page tables: 1 yes, 0 no, -1 not known yet */
};

/* True while vmm_vm_run() or any vmm_vcpu_run() of the VM is in progress: the
 * buses, memory map and vCPU table must not change then. */
VMM__HIDDEN bool vmm__vm_busy(const vmm_vm *vm);
/* True when no vCPU of the VM is in the guest: idle, or inside vmm_vm_run()
 * with every vCPU thread parked by vmm_vm_pause(). The VM's state may then be
 * read and replaced (snapshots), though not its layout. */
VMM__HIDDEN bool vmm__vm_quiescent(vmm_vm *vm);
/* Run with an absolute CLOCK_MONOTONIC deadline (0 = none). */
VMM__HIDDEN int vmm__vcpu_run_until(vmm_vcpu *vcpu, vmm_exit *exit, uint64_t deadline_ns);
VMM__HIDDEN void vmm__vcpu_free(vmm_vcpu *vcpu);
/* Hold a vCPU for a whole-VM operation (a snapshot): become its runner so no
 * run or register access starts meanwhile, and complete a pending I/O so its
 * state is consistent (KVM API, "KVM_RUN"). VMM_EBUSY if it is running. */
VMM__HIDDEN int vmm__vcpu_acquire(vmm_vcpu *vcpu);
VMM__HIDDEN void vmm__vcpu_release(vmm_vcpu *vcpu);

/* ---- x86 paging walk (paging_x86_64.c), over a reader callback ---- */
/* struct vmm__paging_state: in hv/hv.h (a backend fills it from a state blob). */
typedef int (*vmm__phys_read_fn)(void *ctx, uint64_t gpa, uint64_t *val, size_t size);
VMM__HIDDEN int vmm__x86_translate(const struct vmm__paging_state *ps, uint64_t gva, bool write,
                                   bool user, vmm__phys_read_fn rd, void *ctx, uint64_t *gpa);
/* Called with each page-table page's address: 1 if new, 0 if seen before, <0 to stop. */
typedef int (*vmm__table_fn)(void *ctx, uint64_t gpa);
/* Report every page-table page reachable from CR3 (none with paging off).
 * Returns 0, or -1 when add failed or more than max tables were visited. */
VMM__HIDDEN int vmm__x86_table_pages(const struct vmm__paging_state *ps, vmm__phys_read_fn rd,
                                     void *ctx, vmm__table_fn add, void *add_ctx, size_t max);

#endif
