/* Runs exported C code on the host (tests/cli_export_c.sh), C99 like the code it runs:
 *   host_run gen X.npy N SEED     N seeded random inputs of the model's shape, [N, C, H, W]
 *   host_run run X.npy Y.npy      the model on every row of X: Y [N, OUTPUT_SIZE]; an int8 input
 *                                 is X quantized as slimnn does it, an int8 output is written
 *                                 dequantized as slimnn infer writes it (so Y equals infer's
 *                                 exactly when the int8 outputs are the same bytes)
 *   host_run cmp A.npy B.npy TOL  exit 1 unless max |a - b| <= TOL * max(1, max |b|) in each row
 *   host_run bytes RAW N X.npy    N images of bytes from RAW through PREFIX_input_from_bytes (an
 *                                 int8 input written dequantized: slimnn quantizes it back to
 *                                 the same bytes)
 *   host_run top1 Y.npy           "top1 I K" for each row of Y: its largest output
 * Built with the generated PREFIX.c: -DHDR='"PREFIX.h"' -DRUN=PREFIX_run -DP(x)=PREFIX_##x
 * (upper case), and -DP_INPUT_FROM_BYTES=PREFIX_input_from_bytes for the bytes mode. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include HDR

#if P(INPUT_INT8)
typedef int8_t in_t;
#else
typedef float in_t;
#endif
#if P(OUTPUT_INT8)
typedef int8_t out_t;
#else
typedef float out_t;
#endif

/* The model's input from floats: as they are, or quantized as slimnn does (x / scale rounded
 * half to even, plus the zero point, clamped). */
static void to_input(const float *x, in_t *in)
{
	long i;
	for (i = 0; i < P(INPUT_SIZE); i++) {
#if P(INPUT_INT8)
		const long r = lrintf(x[i] / P(INPUT_SCALE)) + P(INPUT_ZERO_POINT);
		in[i] = (int8_t)(r < -128 ? -128 : r > 127 ? 127 : r);
#else
		in[i] = x[i];
#endif
	}
}

/* int8 values as floats, as slimnn dequantizes them: scale * (q - zero_point). */
#if P(INPUT_INT8) || P(OUTPUT_INT8)
static void dequantize(const int8_t *q, long n, float scale, long zp, float *out)
{
	long i;
	for (i = 0; i < n; i++) out[i] = scale * (float)(q[i] - zp);
}
#endif

#if P(NORMALISES)
static void input_floats(const in_t *v, float *out)
{
#if P(INPUT_INT8)
	dequantize(v, P(INPUT_SIZE), P(INPUT_SCALE), P(INPUT_ZERO_POINT), out);
#else
	memcpy(out, v, sizeof *out * P(INPUT_SIZE));
#endif
}
#endif

static void output_floats(const out_t *v, float *out)
{
#if P(OUTPUT_INT8)
	dequantize(v, P(OUTPUT_SIZE), P(OUTPUT_SCALE), P(OUTPUT_ZERO_POINT), out);
#else
	memcpy(out, v, sizeof *out * P(OUTPUT_SIZE));
#endif
}

/* float32 little-endian, C order; up to 4 dims. Returns the values, their count in *n and the
 * first dim in *rows. */
static float *npy_read(const char *path, long *n, long *rows)
{
	FILE *f = fopen(path, "rb");
	unsigned char pre[10];
	char hdr[1024], *s;
	long dims[4], k = 0, total = 1;
	float *v;
	if (!f || fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6)) { fprintf(stderr, "%s: not .npy\n", path); exit(2); }
	{
		const unsigned hl = pre[8] | pre[9] << 8;
		if (hl >= sizeof hdr || fread(hdr, 1, hl, f) != hl) { fprintf(stderr, "%s: bad header\n", path); exit(2); }
		hdr[hl] = 0;
	}
	if (!strstr(hdr, "'<f4'") || strstr(hdr, "True")) { fprintf(stderr, "%s: not float32 C order\n", path); exit(2); }
	s = strchr(strstr(hdr, "'shape'"), '(') + 1;
	while (k < 4 && *s != ')') {
		dims[k] = strtol(s, &s, 10);
		total *= dims[k++];
		while (*s == ',' || *s == ' ') s++;
	}
	v = malloc((size_t)total * sizeof *v + 1);
	if (!v || fread(v, sizeof *v, (size_t)total, f) != (size_t)total) { fprintf(stderr, "%s: cut short\n", path); exit(2); }
	fclose(f);
	*n = total;
	*rows = k ? dims[0] : 1;
	return v;
}

static void npy_write(const char *path, const float *v, long rows, long c, long h, long w, int rank)
{
	char hdr[128];
	FILE *f = fopen(path, "wb");
	int len;
	if (rank == 4) len = sprintf(hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (%ld, %ld, %ld, %ld), }", rows, c, h, w);
	else len = sprintf(hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (%ld, %ld), }", rows, c * h * w);
	while ((10 + len + 1) % 64) hdr[len++] = ' ';
	hdr[len++] = '\n';
	if (!f) { fprintf(stderr, "cannot write %s\n", path); exit(2); }
	fwrite("\x93NUMPY\x01\x00", 1, 8, f);
	fputc(len & 0xff, f);
	fputc(len >> 8, f);
	fwrite(hdr, 1, (size_t)len, f);
	fwrite(v, sizeof *v, (size_t)(rows * c * h * w), f);
	fclose(f);
}

int main(int argc, char **argv)
{
	long n, rows, i, j;
	if (argc == 5 && !strcmp(argv[1], "gen")) {
		unsigned long s = strtoul(argv[4], NULL, 10) * 2654435761u + 1;
		rows = atol(argv[3]);
		float *x = malloc((size_t)(rows * P(INPUT_SIZE)) * sizeof *x);
		for (i = 0; i < rows * P(INPUT_SIZE); i++) {
			s = s * 6364136223846793005u + 1442695040888963407u;
			x[i] = (float)((s >> 33) % 100000) / 25000.0f - 2.0f;   /* [-2, 2) */
		}
		npy_write(argv[2], x, rows, P(INPUT_C), P(INPUT_H), P(INPUT_W), 4);
		return 0;
	}
	if (argc == 4 && !strcmp(argv[1], "run")) {
		float *x = npy_read(argv[2], &n, &rows), *y;
		if (n != rows * P(INPUT_SIZE)) { fprintf(stderr, "%s: %ld values, not rows of %d\n", argv[2], n, P(INPUT_SIZE)); return 2; }
		static in_t in[P(INPUT_SIZE)];
		static out_t out[P(OUTPUT_SIZE)];
		y = malloc((size_t)(rows * P(OUTPUT_SIZE)) * sizeof *y);
		for (i = 0; i < rows; i++) {
			to_input(x + i * P(INPUT_SIZE), in);
			RUN(in, out);
			output_floats(out, y + i * P(OUTPUT_SIZE));
		}
		npy_write(argv[3], y, rows, P(OUTPUT_C), P(OUTPUT_H), P(OUTPUT_W), P(OUTPUT_H) * P(OUTPUT_W) > 1 ? 4 : 2);
		return 0;
	}
	if (argc == 5 && !strcmp(argv[1], "cmp")) {
		long nb, rb;
		float *a = npy_read(argv[2], &n, &rows), *b = npy_read(argv[3], &nb, &rb);
		const double tol = atof(argv[4]);
		double worst = 0;
		if (n != nb || rows != rb) { fprintf(stderr, "%ld values against %ld\n", n, nb); return 1; }
		for (i = 0; i < rows; i++) {
			const long per = n / rows;
			double scale = 1, err = 0;
			for (j = 0; j < per; j++) scale = fmax(scale, fabs(b[i * per + j]));
			for (j = 0; j < per; j++) {
				const double d = fabs((double)a[i * per + j] - b[i * per + j]);
				err = d == d ? fmax(err, d) : INFINITY;
			}
			worst = fmax(worst, err / scale);
		}
		printf("max relative difference %.3g\n", worst);
		return worst <= tol ? 0 : 1;
	}
#if P(NORMALISES)
	if (argc == 5 && !strcmp(argv[1], "bytes")) {
		FILE *f = fopen(argv[2], "rb");
		unsigned char px[P(INPUT_SIZE)];
		static in_t in[P(INPUT_SIZE)];
		float *x;
		rows = atol(argv[3]);
		x = malloc((size_t)(rows * P(INPUT_SIZE)) * sizeof *x);
		for (i = 0; i < rows; i++) {
			if (!f || fread(px, 1, sizeof px, f) != sizeof px) { fprintf(stderr, "%s: cut short\n", argv[2]); return 2; }
			P_INPUT_FROM_BYTES(px, in);
			input_floats(in, x + i * P(INPUT_SIZE));
		}
		npy_write(argv[4], x, rows, P(INPUT_C), P(INPUT_H), P(INPUT_W), 4);
		return 0;
	}
#endif
	if (argc == 3 && !strcmp(argv[1], "top1")) {
		float *y = npy_read(argv[2], &n, &rows);
		for (i = 0; i < rows; i++) {
			const long per = n / rows;
			long best = 0;
			for (j = 1; j < per; j++)
				if (y[i * per + j] > y[i * per + best]) best = j;
			printf("top1 %ld %ld\n", i, best);
		}
		return 0;
	}
	fprintf(stderr, "usage: host_run gen X.npy N SEED | run X.npy Y.npy | cmp A.npy B.npy TOL | bytes RAW N X.npy | top1 Y.npy\n");
	return 2;
}
