/* SPDX-License-Identifier: MIT */
/* Entry of the virtio driver guests (virtio_drv, virtio_blk_bench, virtio_net_drv,
 * virtio_console_drv, virtio_vsock_drv): run the driver's drv_main, report its
 * result through the debug-exit register at 0xd0000000, where each guest's
 * layout header puts it (MMIO: ports are privileged at CPL3). */
    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    call drv_main
    mov $0xd0000000, %ecx
    mov %eax, (%rcx)
1:  jmp 1b
    .section .note.GNU-stack, "", @progbits
