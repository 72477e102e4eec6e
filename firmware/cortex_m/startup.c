/* Minimal Cortex-M4F start-up: vector table, .data/.bss set-up, FPU on, main, exit. */
#include <stdint.h>
#include <string.h>

#include "semihost.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
int main(void);

void Reset_Handler(void) {
  /* copy initialised data from flash to RAM, zero .bss */
  memcpy(&_sdata, &_sidata, (size_t)((char *)&_edata - (char *)&_sdata));
  memset(&_sbss, 0, (size_t)((char *)&_ebss - (char *)&_sbss));
  /* enable the FPU: full access to coprocessors CP10 and CP11 (CPACR) */
  *(volatile uint32_t *)0xE000ED88u |= (0xFu << 20);
  __asm__ volatile("dsb\n isb" ::: "memory");
  sh_exit(main());
}

static void Fault_Handler(void) {
  sh_write0("firmware: fault (HardFault/MemManage/BusFault/UsageFault)\n");
  sh_exit(99);
}

__attribute__((section(".isr_vector"), used)) const void *const g_vectors[16] = {
    &_estack,           /* initial stack pointer */
    (const void *)Reset_Handler,
    (const void *)Fault_Handler, /* NMI */
    (const void *)Fault_Handler, /* HardFault */
    (const void *)Fault_Handler, /* MemManage */
    (const void *)Fault_Handler, /* BusFault */
    (const void *)Fault_Handler, /* UsageFault */
    0, 0, 0, 0,
    (const void *)Fault_Handler, /* SVC */
    (const void *)Fault_Handler, /* DebugMon */
    0,
    (const void *)Fault_Handler, /* PendSV */
    (const void *)Fault_Handler, /* SysTick */
};
