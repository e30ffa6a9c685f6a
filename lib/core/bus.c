/* SPDX-License-Identifier: MIT */
/* The I/O buses (ports and MMIO) and dispatch of access exits to devices. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Index of the first range whose end is above addr. */
static size_t lower_bound(const struct vmm__bus *bus, uint64_t addr)
{
    size_t lo = 0, hi = bus->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        /* base + len - 1 cannot overflow: a range ending at 2^64 - 1 is legal. */
        if (bus->r[mid].base + bus->r[mid].len - 1 < addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int vmm__bus_add(struct vmm__bus *bus, uint64_t base, uint64_t len, vmm_device *dev,
                 unsigned int index)
{
    if (len == 0 || base + len - 1 < base)
        return vmm__err(VMM_EINVAL, "range 0x%llx+0x%llx is empty or wraps",
                        (unsigned long long)base, (unsigned long long)len);
    size_t i = lower_bound(bus, base);
    if (i < bus->n && bus->r[i].base <= base + len - 1)
        return vmm__err(VMM_EEXIST, "range [0x%llx, 0x%llx] overlaps [0x%llx, 0x%llx] of %s",
                        (unsigned long long)base, (unsigned long long)(base + len - 1),
                        (unsigned long long)bus->r[i].base,
                        (unsigned long long)(bus->r[i].base + bus->r[i].len - 1),
                        bus->r[i].dev ? bus->r[i].dev->id : "another device");
    if (bus->n == bus->cap) {
        size_t cap = bus->cap ? bus->cap * 2 : 16;
        struct vmm__range *r = realloc(bus->r, cap * sizeof *r);
        if (!r)
            return vmm__err(VMM_ENOMEM, "I/O bus: out of memory");
        bus->r = r;
        bus->cap = cap;
    }
    memmove(&bus->r[i + 1], &bus->r[i], (bus->n - i) * sizeof *bus->r);
    bus->r[i] = (struct vmm__range){base, len, dev, index};
    bus->n++;
    return 0;
}

const struct vmm__range *vmm__bus_find(const struct vmm__bus *bus, uint64_t addr, uint64_t len)
{
    size_t i = lower_bound(bus, addr);
    if (i == bus->n)
        return NULL;
    const struct vmm__range *r = &bus->r[i];
    /* The whole access must fall inside one range; one that straddles a range's
     * edge is not the device's and goes to the caller. */
    if (addr < r->base || len > r->len || addr - r->base > r->len - len)
        return NULL;
    return r;
}

void vmm__bus_remove_device(struct vmm__bus *bus, const vmm_device *dev)
{
    size_t k = 0;
    for (size_t i = 0; i < bus->n; i++)
        if (bus->r[i].dev != dev)
            bus->r[k++] = bus->r[i];
    bus->n = k;
}

void vmm__bus_free(struct vmm__bus *bus)
{
    free(bus->r);
    memset(bus, 0, sizeof *bus);
}

static _Thread_local struct {
    bool pending;
    int status;
} stop_request;

void vmm_device_stop(vmm_device *dev, int status)
{
    (void)dev;
    stop_request.pending = true;
    stop_request.status = status;
}

bool vmm__dispatch_take_stop(int *status)
{
    if (!stop_request.pending)
        return false;
    stop_request.pending = false;
    *status = stop_request.status;
    return true;
}

bool vmm__dispatch(const struct vmm__bus *pio, const struct vmm__bus *mmio, vmm_exit *x)
{
    if (x->reason == VMM_EXIT_IO) {
        unsigned int size = x->io.size;
        if (size != 1 && size != 2 && size != 4)
            return false;
        const struct vmm__range *r = vmm__bus_find(pio, x->io.port, size);
        if (!r)
            return false;
        /* REP INS/OUTS arrive as count back-to-back elements of size bytes. */
        for (uint32_t i = 0; i < x->io.count; i++)
            vmm__device_access(r->dev, r->index, x->io.port - r->base, x->io.data + i * size, size,
                               x->io.is_write);
        return true;
    }
    if (x->reason == VMM_EXIT_MMIO) {
        unsigned int size = x->mmio.size;
        if (size != 1 && size != 2 && size != 4 && size != 8)
            return false;
        const struct vmm__range *r = vmm__bus_find(mmio, x->mmio.addr, size);
        if (!r)
            return false;
        vmm__device_access(r->dev, r->index, x->mmio.addr - r->base, x->mmio.data, size,
                           x->mmio.is_write);
        return true;
    }
    return false;
}
