/* SPDX-License-Identifier: MIT */
/* A virtio-console driver run as a CPL3 guest (virtio 1.2 §5.3, one port, no
 * MULTIPORT): transmits a message, uses emergency write, receives what the
 * host gives it; or streams bulk output for the throughput benchmark. Polls
 * the used rings; see virtio_console_drv.h for the protocol with the host. */
#include "virtio_console_drv.h"
#include "vdrv.h"

#define F_SIZE        1u
#define F_EMERG_WRITE 4u

static volatile struct con_io *const io = (volatile struct con_io *)(uintptr_t)CON_IO;
static struct vdrv_q rxq, txq;

static void pause_for_host(void)
{
    VDRV_REG(CON_EXIT_MMIO, 0) = CON_PAUSE;
}

static int hello(void)
{
    /* The message in two buffers of one chain. */
    static const char msg[] = CON_MSG;
    volatile char *b = (volatile char *)(uintptr_t)CON_TX_BUF;
    unsigned int n = sizeof msg - 1, half = n / 2;
    for (unsigned int i = 0; i < n; i++)
        b[i < half ? i : i + 0x100] = msg[i];
    vdrv_desc(&txq, 0, CON_TX_BUF, half, VDRV_F_NEXT);
    vdrv_desc(&txq, 1, CON_TX_BUF + 0x100 + half, n - half, 0);
    int64_t used = vdrv_submit(&txq, 0);
    if (used < 0)
        return 20;
    io->tx_used_len = (uint32_t)used;

    VDRV_REG(CON_MMIO, 0x100 + 8) = CON_EMERG;

    /* Receive buffers, one descriptor each, then over to the host. */
    for (unsigned int i = 0; i < CON_RX_CHAINS; i++) {
        vdrv_desc(&rxq, i, CON_RX_BUF + i * CON_RX_LEN, CON_RX_LEN, VDRV_F_WRITE);
        vdrv_publish(&rxq, (uint16_t)i);
    }
    vdrv_notify(&rxq);
    pause_for_host();
    for (unsigned int i = 0; i < CON_RX_CHAINS; i++) {
        uint16_t head;
        uint32_t len;
        if (!vdrv_used(&rxq, VDRV_SPINS, &head, &len))
            return 30 + (int)i;
        if (head >= CON_RX_CHAINS || len > CON_RX_LEN)
            return 40;
        io->rx_len[head] = len;
    }
    volatile uint8_t *rx = (volatile uint8_t *)(uintptr_t)CON_RX_BUF;
    for (unsigned int i = 0; i < CON_RX_CHAINS * CON_RX_LEN; i++)
        io->rx_data[i] = rx[i];
    return 0;
}

static int stream(void)
{
    volatile uint8_t *b = (volatile uint8_t *)(uintptr_t)CON_TX_BUF;
    for (unsigned int i = 0; i < CON_CHAINS * CON_CHAIN; i++)
        b[i] = (uint8_t)(i * 7 + (i >> 12));
    for (unsigned int i = 0; i < CON_CHAINS; i++)
        vdrv_desc(&txq, i, CON_TX_BUF + i * CON_CHAIN, CON_CHAIN, 0);
    pause_for_host();
    uint32_t batches = io->batches;
    for (uint32_t k = 0; k < batches; k++) {
        for (unsigned int i = 0; i < CON_CHAINS; i++)
            vdrv_publish(&txq, (uint16_t)i);
        vdrv_notify(&txq);
        for (unsigned int i = 0; i < CON_CHAINS; i++) {
            uint16_t head;
            uint32_t len;
            if (!vdrv_used(&txq, VDRV_SPINS, &head, &len))
                return 50;
        }
    }
    return 0;
}

int drv_main(void)
{
    int rc = vdrv_init(CON_MMIO, 3, F_SIZE | F_EMERG_WRITE);
    if (rc)
        return rc;
    io->cols = (uint16_t)VDRV_REG(CON_MMIO, 0x100);
    io->rows = (uint16_t)(VDRV_REG(CON_MMIO, 0x100) >> 16);
    if ((rc = vdrv_queue(&rxq, CON_MMIO, 0, CON_RINGS, CON_QUEUE)) ||
        (rc = vdrv_queue(&txq, CON_MMIO, 1, CON_RINGS + 0x10000, CON_QUEUE)) ||
        (rc = vdrv_ready(CON_MMIO)))
        return rc;
    return io->mode == CON_MODE_STREAM ? stream() : hello();
}
