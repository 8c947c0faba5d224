/* Start-up for a Cortex-M4 in QEMU (mps2-an386), without newlib's start files: the vector
 * table, .data copied and .bss zeroed, the FPU switched on, main; output and exit through ARM
 * semihosting (bkpt 0xab), and a clock from SysTick counting the core's 25 MHz (with qemu
 * -icount shift=0 one instruction is one nanosecond: 40 instructions a tick). */
#include <string.h>

extern unsigned _sidata, _sdata, _edata, _sbss, _ebss, _estack;
int main(void);
void Reset_Handler(void);
void SysTick_Handler(void);
void mcu_puts(const char *s);
void mcu_exit(int code);
unsigned long long mcu_ticks(void);

static void halt(void) { mcu_puts("fault\n"); mcu_exit(1); }

__attribute__((section(".isr_vector"), used)) static void (*const vectors[16])(void) = {
	(void (*)(void))&_estack, Reset_Handler, halt, halt, halt, halt, halt, 0, 0, 0, 0, halt, halt, 0, halt,
	SysTick_Handler,
};

#define REG(a) (*(volatile unsigned *)(a))
#define CPACR REG(0xE000ED88)
#define SYST_CSR REG(0xE000E010)
#define SYST_RVR REG(0xE000E014)
#define SYST_CVR REG(0xE000E018)

static volatile unsigned long long wraps;

void SysTick_Handler(void) { wraps++; }

unsigned long long mcu_ticks(void)
{
	unsigned long long w;
	unsigned v;
	do { w = wraps; v = SYST_CVR; } while (w != wraps);
	return (w << 24) + (0xFFFFFFu - v);
}

static int semihost(int op, const void *arg)
{
	register int r0 __asm__("r0") = op;
	register const void *r1 __asm__("r1") = arg;
	__asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
	return r0;
}

void mcu_puts(const char *s) { semihost(0x04, s); }   /* SYS_WRITE0 */

void mcu_exit(int code)
{
	/* SYS_EXIT: ADP_Stopped_ApplicationExit (qemu exits 0) or RunTimeErrorUnknown (exits 1) */
	semihost(0x18, (const void *)(code ? 0x20023u : 0x20026u));
	for (;;) {}
}

void Reset_Handler(void)
{
	memcpy(&_sdata, &_sidata, (size_t)((char *)&_edata - (char *)&_sdata));
	memset(&_sbss, 0, (size_t)((char *)&_ebss - (char *)&_sbss));
	CPACR |= 0xFu << 20;   /* CP10 and CP11: the FPU */
	__asm__ volatile("dsb\n\tisb");
	SYST_RVR = 0xFFFFFF;
	SYST_CVR = 0;
	SYST_CSR = 7;          /* the core's clock, interrupt on wrap, on */
	mcu_exit(main());
}
