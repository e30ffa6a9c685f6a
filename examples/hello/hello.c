/* SPDX-License-Identifier: MIT */
/* hello: the smallest useful VM runner. Creates a VM with 2 MiB of RAM, a
 * serial port wired to stdout and a debug-exit port, puts a tiny 64-bit guest
 * in it, and runs it until the guest reports its exit status.
 *
 * Build against an installed libvmm:
 *     cc hello.c $(pkg-config --cflags --libs libvmm) -o hello
 */
#include <libvmm/vmm.h>
#include <stdio.h>
#include <string.h>

#define RAM_SIZE (2u << 20)
#define ENTRY    0x10000u

/* The guest, 64-bit code at ENTRY (the bytes of `as` output):
 *     lea   msg(%rip), %rsi     ; msg follows the code
 *     mov   $0x3f8, %dx         ; COM1 data register
 * 1:  lodsb
 *     test  %al, %al
 *     jz    2f
 *     out   %al, %dx            ; one byte to the serial port
 *     jmp   1b
 * 2:  mov   $0xf4, %dx          ; debug-exit port
 *     mov   $0, %al
 *     out   %al, %dx            ; ends the run with status 0
 *     hlt
 */
static const unsigned char guest_code[] = {
    0x48, 0x8d, 0x35, 0x14, 0x00, 0x00, 0x00, 0x66, 0xba, 0xf8, 0x03, 0xac, 0x84, 0xc0,
    0x74, 0x03, 0xee, 0xeb, 0xf8, 0x66, 0xba, 0xf4, 0x00, 0xb0, 0x00, 0xee, 0xf4,
};
static const char guest_msg[] = "Hello from a libvmm guest!\n";

static int fail(const char *what)
{
    const vmm_error *e = vmm_error_last();
    fprintf(stderr, "hello: %s: %s (%s)\n", what, e->message, vmm_strerror(e->code));
    return 1;
}

int main(void)
{
    vmm_host_info info;
    if (vmm_host_info_get(&info) < 0)
        return fail("KVM");
    printf("libvmm %s on %s (%s paging)\n", vmm_version(NULL, NULL, NULL), info.backend,
           vmm_paging_name(info.paging));
    fflush(stdout); /* the guest writes to fd 1 directly */

    vmm_vm *vm = NULL;
    vmm_vcpu *vcpu;
    int status = 1;
    if (vmm_vm_create(&vm, NULL) < 0) {
        fail("create VM");
        goto out;
    }
    if (vmm_mem_map(vm, 0, RAM_SIZE, NULL, 0) < 0) {
        fail("map RAM");
        goto out;
    }
    /* Serial output goes to our stdout; debug-exit takes 1-byte writes on 0xf4. */
    if (vmm_device_attach(NULL, vm, "serial", "{\"fd\": 1}") < 0 ||
        vmm_device_attach(NULL, vm, "debug-exit", "{\"port\": 244, \"size\": 1}") < 0) {
        fail("attach devices");
        goto out;
    }
    if (vmm_mem_write(vm, ENTRY, guest_code, sizeof guest_code) < 0 ||
        vmm_mem_write(vm, ENTRY + sizeof guest_code, guest_msg, sizeof guest_msg) < 0) {
        fail("load guest");
        goto out;
    }
    if (vmm_vcpu_create(&vcpu, vm, 0) < 0) {
        fail("create vCPU");
        goto out;
    }
    vmm_x86_setup_options setup = VMM_X86_SETUP_OPTIONS_INIT;
    setup.mode = VMM_X86_LONG;
    setup.entry = ENTRY;
    setup.stack = 0x8000;
    if (vmm_x86_setup(vcpu, &setup) < 0) {
        fail("set up long mode");
        goto out;
    }

    vmm_run_result res;
    if (vmm_vm_run(vm, NULL, &res) < 0) {
        fail("run");
        goto out;
    }
    if (res.reason == VMM_EXIT_STATUS) {
        printf("guest exited with status %d\n", res.status);
        status = res.status;
    } else {
        fprintf(stderr, "hello: the guest stopped unexpectedly: %s\n",
                vmm_exit_reason_name(res.reason));
    }
out:
    vmm_vm_destroy(vm);
    return status;
}
