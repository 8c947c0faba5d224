/* Runs an exported model (prefix m) on the images of images.h and prints, through the platform's
 * mcu_puts, "top1 I K" for each image, then "correct C of N" and "ticks T" (the clock ticks spent
 * in m_run). Built for the Cortex-M4 with startup.c. */
#include "m.h"
#include "images.h"

void mcu_puts(const char *s);
unsigned long long mcu_ticks(void);

static m_input_t x[M_INPUT_SIZE];    /* float, or int8 for a quantized model */
static m_output_t y[M_OUTPUT_SIZE];

static void put_num(unsigned long long v)
{
	char b[24];
	int k = 23;
	b[k] = 0;
	do { b[--k] = (char)('0' + v % 10); v /= 10; } while (v);
	mcu_puts(b + k);
}

int main(void)
{
	int i, k, correct = 0;
	unsigned long long ticks = 0;
	for (i = 0; i < N_IMAGES; i++) {
		int best = 0;
		unsigned long long t0;
		m_input_from_bytes(images[i], x);
		t0 = mcu_ticks();
		m_run(x, y);
		ticks += mcu_ticks() - t0;
		for (k = 1; k < M_OUTPUT_SIZE; k++)
			if (y[k] > y[best]) best = k;
		correct += best == labels[i];
		mcu_puts("top1 ");
		put_num((unsigned)i);
		mcu_puts(" ");
		put_num((unsigned)best);
		mcu_puts("\n");
	}
	mcu_puts("correct ");
	put_num((unsigned)correct);
	mcu_puts(" of ");
	put_num(N_IMAGES);
	mcu_puts("\nticks ");
	put_num(ticks);
	mcu_puts("\n");
	return 0;
}
