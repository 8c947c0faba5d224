/* bench_decode — slimnn's JPEG decode + Resize + CenterCrop on one core, the side of the `data`
 * section of bench/run.sh that bench/decode_pil.py times with PIL on the same files.
 *
 *   bench_decode --make DIR [--count N] [--first K] [--size WxH]   writes the JPEG sets (below)
 *   bench_decode [--warmup W] [--runs R] [--resize S] [--crop C] SETDIR...
 *
 * The sets (--make): DIR/500x375 and DIR/1024x768, N (64) photo-like JPEGs each, quality 90, 4:2:0
 * chroma subsampling (libjpeg's defaults, which are PIL's for quality 90), written with
 * libjpeg-turbo from a seeded generator (a colour gradient, value noise over eight octaves with a
 * flattened 1/f spectrum, a few soft-edged shapes and per-pixel grain), so that the files have
 * about the entropy of photographs (3.0 bits per pixel, ~69 KB, at 500x375; 2.3, ~218 KB, at
 * 1024x768), not that of flat synthetic images, whose Huffman decoding costs far less.
 * Deterministic: the same bytes on every run and machine. --size WxH writes only that size (any),
 * --first K numbers the files (and seeds the images) from K: bench/train_data.sh makes its JPEG
 * folders this way.
 *
 * Timing: every file of a set is read into memory first (no file I/O is timed). One pass = for
 * every file: sn_image_decode(bytes, 3 channels, min_short) + sn_image_resize_crop(resize S,
 * crop C x C) into one planar CHW uint8 buffer + sn_image_free: exactly what the loader does for
 * a streamed image folder (src/data/folder.c), minus reading the file and normalising to floats.
 * Two implementations, interleaved pass by pass (A B B A ...) so that drift weighs on both:
 *   full  min_short = 0: decoded at full size, then resized;
 *   dct   min_short = S: libjpeg-turbo scales down in the IDCT (1/2, 1/4, 1/8: the smallest whose
 *         shorter side stays >= S), as PIL's draft() does, then resized.
 * W untimed passes (and at least BENCH_WARMUP_S of them), then R timed; the median pass. One thread
 * (the decoder and the resampler are single-threaded; nothing here starts a thread). One line per
 * set and implementation:
 *
 *   case=jpeg:500x375 engine=slimnn impl=dct images=64 bytes=5242880 ms=3.123 img_s=320.2 cpu_img_s=321.0 crc=1a2b3c4d runs=9
 *
 * ms: median milliseconds per image; img_s = 1000 / ms; cpu_img_s: the same from the median CPU time
 * of a pass (near img_s when the core was ours); crc: zlib's crc32 of all output
 * bytes of a pass in file order (decode_pil.py computes the same over its arrays: equal crcs mean
 * byte-identical outputs). bytes: the set's total file size. Exit status 1 on any failure.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <zlib.h>
#include <jpeglib.h>   /* after stdio.h: it uses FILE */
#include "data/image.h"
#include "slimnn.h"
#include "timing.h"

/* ---------------------------------------------------------------- the generator */

static uint64_t rng_next(uint64_t *s)   /* splitmix64 */
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}
static double rng_unit(uint64_t *s) { return (double)(rng_next(s) >> 11) * 0x1.0p-53; }   /* [0, 1) */
static double rng_sym(uint64_t *s) { return 2 * rng_unit(s) - 1; }                        /* [-1, 1) */

/* Adds amp * value noise with cells of `cell` pixels (smoothstep-interpolated random lattice,
 * a luma value plus a smaller chroma offset per lattice point) to the float image f (w*h*3). */
static void add_octave(float *f, int w, int h, double cell, double amp, double chroma, uint64_t *s)
{
	const int gw = (int)(w / cell) + 2, gh = (int)(h / cell) + 2;
	float *g = malloc((size_t)gw * gh * 3 * sizeof *g);
	if (!g) { fprintf(stderr, "bench_decode: out of memory\n"); exit(1); }
	for (int i = 0; i < gw * gh; i++) {
		double l = rng_sym(s);
		for (int ch = 0; ch < 3; ch++) g[i * 3 + ch] = (float)(amp * (l + chroma * rng_sym(s)));
	}
	for (int y = 0; y < h; y++) {
		double gy = y / cell;
		int y0 = (int)gy;
		double ty = gy - y0;
		ty = ty * ty * (3 - 2 * ty);
		for (int x = 0; x < w; x++) {
			double gx = x / cell;
			int x0 = (int)gx;
			double tx = gx - x0;
			tx = tx * tx * (3 - 2 * tx);
			const float *a = g + ((size_t)y0 * gw + x0) * 3, *b = a + 3, *c = a + (size_t)gw * 3, *d = c + 3;
			for (int ch = 0; ch < 3; ch++) {
				double top = a[ch] + tx * (b[ch] - a[ch]), bot = c[ch] + tx * (d[ch] - c[ch]);
				f[((size_t)y * w + x) * 3 + ch] += (float)(top + ty * (bot - top));
			}
		}
	}
	free(g);
}

/* One photo-like RGB image (w*h*3 bytes), a function of seed only. */
static void make_image(uint8_t *px, int w, int h, uint64_t seed)
{
	uint64_t s = seed;
	float *f = malloc((size_t)w * h * 3 * sizeof *f);
	if (!f) { fprintf(stderr, "bench_decode: out of memory\n"); exit(1); }
	double corner[4][3];
	for (int k = 0; k < 4; k++)
		for (int ch = 0; ch < 3; ch++) corner[k][ch] = 40 + 175 * rng_unit(&s);
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			double u = (double)x / w, v = (double)y / h;
			for (int ch = 0; ch < 3; ch++)
				f[((size_t)y * w + x) * 3 + ch] = (float)((1 - v) * ((1 - u) * corner[0][ch] + u * corner[1][ch]) +
				                                          v * ((1 - u) * corner[2][ch] + u * corner[3][ch]));
		}
	/* octaves scaled to the image (the same scene at both sizes), amplitude ~ cell^0.8 */
	const double unit = (w < h ? w : h) / 375.0;
	for (double cell = 160; cell >= 1.25; cell /= 2)
		add_octave(f, w, h, cell * unit, 13.0 * pow(cell, 0.2), 0.35, &s);
	/* soft-edged ellipses: the object edges of a photograph */
	for (int e = 0; e < 12; e++) {
		double cx = w * rng_unit(&s), cy = h * rng_unit(&s), rx = (0.04 + 0.2 * rng_unit(&s)) * w,
		       ry = (0.04 + 0.2 * rng_unit(&s)) * h, edge = 1 + 3 * rng_unit(&s) * unit, col[3];
		for (int ch = 0; ch < 3; ch++) col[ch] = 70 * rng_sym(&s);
		for (int y = 0; y < h; y++)
			for (int x = 0; x < w; x++) {
				double dx = (x - cx) / rx, dy = (y - cy) / ry, r = (sqrt(dx * dx + dy * dy) - 1) * (rx < ry ? rx : ry);
				if (r > 2 * edge) continue;
				double a = r < -2 * edge ? 1 : 0.5 - 0.5 * tanh(r / edge);
				for (int ch = 0; ch < 3; ch++) f[((size_t)y * w + x) * 3 + ch] += (float)(a * col[ch]);
			}
	}
	for (size_t i = 0; i < (size_t)w * h * 3; i++) {
		double v = f[i] + 10.0 * (rng_unit(&s) + rng_unit(&s) + rng_unit(&s) - 1.5);   /* grain */
		px[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : lrint(v));
	}
	free(f);
}

static long write_jpeg(const char *path, const uint8_t *px, int w, int h)
{
	FILE *fp = fopen(path, "wb");
	if (!fp) { fprintf(stderr, "bench_decode: cannot write %s: %s\n", path, strerror(errno)); exit(1); }
	struct jpeg_compress_struct ci;
	struct jpeg_error_mgr err;
	ci.err = jpeg_std_error(&err);
	jpeg_create_compress(&ci);
	jpeg_stdio_dest(&ci, fp);
	ci.image_width = (JDIMENSION)w;
	ci.image_height = (JDIMENSION)h;
	ci.input_components = 3;
	ci.in_color_space = JCS_RGB;
	jpeg_set_defaults(&ci);   /* YCbCr 4:2:0, Huffman tables not optimised: as PIL's save(quality=90) */
	jpeg_set_quality(&ci, 90, TRUE);
	jpeg_start_compress(&ci, TRUE);
	while (ci.next_scanline < ci.image_height) {
		JSAMPROW row = (JSAMPROW)(px + (size_t)ci.next_scanline * w * 3);
		jpeg_write_scanlines(&ci, &row, 1);
	}
	jpeg_finish_compress(&ci);
	jpeg_destroy_compress(&ci);
	long size = ftell(fp);
	if (fclose(fp)) { fprintf(stderr, "bench_decode: cannot write %s\n", path); exit(1); }
	return size;
}

static int make_sets(const char *dir, int count, int first, int only_w, int only_h)
{
	int sizes[2][2] = {{500, 375}, {1024, 768}}, n_sizes = 2;
	if (only_w > 0) sizes[0][0] = only_w, sizes[0][1] = only_h, n_sizes = 1;
	if (mkdir(dir, 0777) && errno != EEXIST) { fprintf(stderr, "bench_decode: mkdir %s: %s\n", dir, strerror(errno)); return 1; }
	for (int k = 0; k < n_sizes; k++) {
		const int w = sizes[k][0], h = sizes[k][1];
		char sub[4096], path[4200];
		snprintf(sub, sizeof sub, "%s/%dx%d", dir, w, h);
		if (mkdir(sub, 0777) && errno != EEXIST) { fprintf(stderr, "bench_decode: mkdir %s: %s\n", sub, strerror(errno)); return 1; }
		uint8_t *px = malloc((size_t)w * h * 3);
		if (!px) return 1;
		long total = 0;
		for (int i = first; i < first + count; i++) {
			make_image(px, w, h, 1000003ull * (uint64_t)(i + 1));   /* image i: the same scene at every size */
			snprintf(path, sizeof path, "%s/%05d.jpg", sub, i);
			total += write_jpeg(path, px, w, h);
		}
		free(px);
		printf("set=%dx%d images=%d bytes=%ld kb_per_image=%.1f bits_per_pixel=%.2f dir=%s\n", w, h, count, total,
		       total / 1024.0 / count, total * 8.0 / count / w / h, sub);
	}
	return 0;
}

/* ---------------------------------------------------------------- timing */

typedef struct { char *name; unsigned char *data; size_t len; } file;

static int cmp_name(const void *a, const void *b) { return strcmp(((const file *)a)->name, ((const file *)b)->name); }

/* The .jpg files of dir in name order, read into memory. */
static int read_set(const char *dir, file **out, int *n)
{
	DIR *dp = opendir(dir);
	if (!dp) { fprintf(stderr, "bench_decode: cannot read %s: %s\n", dir, strerror(errno)); return 1; }
	file *v = NULL;
	int cnt = 0, cap = 0;
	for (struct dirent *e; (e = readdir(dp));) {
		size_t l = strlen(e->d_name);
		if (l < 5 || strcmp(e->d_name + l - 4, ".jpg")) continue;
		if (cnt == cap) {
			cap = cap ? 2 * cap : 64;
			v = realloc(v, (size_t)cap * sizeof *v);
			if (!v) return 1;
		}
		char path[4200];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		FILE *fp = fopen(path, "rb");
		if (!fp) { fprintf(stderr, "bench_decode: cannot read %s\n", path); closedir(dp); return 1; }
		fseek(fp, 0, SEEK_END);
		long len = ftell(fp);
		fseek(fp, 0, SEEK_SET);
		v[cnt].data = malloc((size_t)len);
		if (!v[cnt].data || fread(v[cnt].data, 1, (size_t)len, fp) != (size_t)len) { fclose(fp); closedir(dp); return 1; }
		fclose(fp);
		v[cnt].len = (size_t)len;
		v[cnt].name = strdup(path);
		cnt++;
	}
	closedir(dp);
	if (!cnt) { fprintf(stderr, "bench_decode: no .jpg files in %s\n", dir); return 1; }
	qsort(v, (size_t)cnt, sizeof *v, cmp_name);
	*out = v;
	*n = cnt;
	return 0;
}

static double cpu_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* One pass over the set: wall and CPU seconds; *crc the crc32 of all outputs. -1 on failure. */
static double pass(const file *f, int n, int min_short, int resize, int crop, uint8_t *out, double *cpu, uLong *crc)
{
	const double c0 = cpu_now(), t0 = bench_now();
	uLong c = crc32(0L, Z_NULL, 0);
	for (int i = 0; i < n; i++) {
		sn_image im;
		if (sn_image_decode(f[i].data, f[i].len, 3, min_short, f[i].name, &im) ||
		    sn_image_resize_crop(&im, resize, crop, crop, out)) {
			fprintf(stderr, "bench_decode: %s\n", sn_errmsg());
			sn_image_free(&im);
			return -1;
		}
		sn_image_free(&im);
		c = crc32(c, out, (uInt)(3 * crop * crop));   /* outside the timed work in spirit: ~0.1 % of it */
	}
	const double t = bench_now() - t0;
	*cpu = cpu_now() - c0;
	*crc = c;
	return t;
}

int main(int argc, char **argv)
{
	int warmup = 1, runs = 9, resize = 256, crop = 224, count = 64, first = 0, first_image = 0, sw = 0, sh = 0;
	const char *make = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (i + 1 < argc && !strcmp(a, "--warmup")) warmup = atoi(argv[++i]);
		else if (i + 1 < argc && !strcmp(a, "--runs")) runs = atoi(argv[++i]);
		else if (i + 1 < argc && !strcmp(a, "--resize")) resize = atoi(argv[++i]);
		else if (i + 1 < argc && !strcmp(a, "--crop")) crop = atoi(argv[++i]);
		else if (i + 1 < argc && !strcmp(a, "--count")) count = atoi(argv[++i]);
		else if (i + 1 < argc && !strcmp(a, "--make")) make = argv[++i];
		else if (i + 1 < argc && !strcmp(a, "--first")) first_image = atoi(argv[++i]);
		else if (i + 1 < argc && !strcmp(a, "--size")) {
			if (sscanf(argv[++i], "%dx%d", &sw, &sh) != 2 || sw < 8 || sh < 8 || sw > 8192 || sh > 8192) {
				fprintf(stderr, "bench_decode: --size WxH, 8 to 8192 pixels a side\n");
				return 2;
			}
		}
		else if (a[0] == '-') {
			fprintf(stderr, "usage: bench_decode --make DIR [--count N] [--first K] [--size WxH]\n"
			                "       bench_decode [--warmup W] [--runs R] [--resize S] [--crop C] SETDIR...\n");
			return 2;
		} else if (!first) first = i;
	}
	if (make) return make_sets(make, count < 1 ? 1 : count, first_image < 0 ? 0 : first_image, sw, sh);
	if (!first || runs < 1 || warmup < 0 || resize < crop || crop < 1) {
		fprintf(stderr, "bench_decode: give one or more folders of .jpg files (bench_decode --make DIR writes them)\n");
		return 2;
	}
	printf("# bench_decode: libjpeg-turbo %s (JPEG_LIB_VERSION %d), slimnn %s, resize %d, crop %d, one thread\n",
#ifdef LIBJPEG_TURBO_VERSION
#define SN_STR2(x) #x
#define SN_STR(x) SN_STR2(x)
	       SN_STR(LIBJPEG_TURBO_VERSION),
#else
	       "?",
#endif
	       JPEG_LIB_VERSION, SN_VERSION, resize, crop);
	int failed = 0;
	uint8_t *out = malloc((size_t)3 * crop * crop);
	double *t[2] = {malloc((size_t)runs * sizeof(double)), malloc((size_t)runs * sizeof(double))};
	double *cpu[2] = {malloc((size_t)runs * sizeof(double)), malloc((size_t)runs * sizeof(double))};
	if (!out || !t[0] || !t[1] || !cpu[0] || !cpu[1]) return 1;
	const int min_short[2] = {0, resize};
	const char *impl[2] = {"full", "dct"};
	for (int a = first; a < argc; a++) {
		if (argv[a][0] == '-') { a++; continue; }   /* an option and its value */
		file *f;
		int n;
		if (read_set(argv[a], &f, &n)) { failed = 1; continue; }
		size_t bytes = 0;
		for (int i = 0; i < n; i++) bytes += f[i].len;
		const char *base = strrchr(argv[a], '/');
		base = base && base[1] ? base + 1 : argv[a];
		uLong crc[2] = {0, 0};
		int bad = 0;
		for (int k = 0; k < 2 && !bad; k++) {   /* warm-up, each implementation */
			const double w0 = bench_now();
			for (int r = 0; !bad && (r < warmup || (warmup && bench_now() - w0 < BENCH_WARMUP_S)); r++) {
				double c;
				bad = pass(f, n, min_short[k], resize, crop, out, &c, &crc[k]) < 0;
			}
		}
		for (int r = 0; r < runs && !bad; r++)
			for (int j = 0; j < 2 && !bad; j++) {
				const int k = r % 2 ? 1 - j : j;   /* full dct, dct full, ... */
				uLong c;
				t[k][r] = pass(f, n, min_short[k], resize, crop, out, &cpu[k][r], &c);
				bad = t[k][r] < 0;
				if (!bad && c != crc[k]) {
					fprintf(stderr, "bench_decode: %s: outputs differ between passes\n", argv[a]);
					bad = 1;
				}
			}
		for (int k = 0; k < 2; k++) {
			if (bad) {
				printf("case=jpeg:%s engine=slimnn impl=%s err=1\n", base, impl[k]);
				continue;
			}
			/* the median pass by wall time, and the median CPU time of a pass */
			const double med = bench_median(t[k], runs), mcpu = bench_median(cpu[k], runs);
			const double ms = med * 1e3 / n;
			printf("case=jpeg:%s engine=slimnn impl=%s images=%d bytes=%zu ms=%.4f img_s=%.1f cpu_img_s=%.1f "
			       "crc=%08lx runs=%d\n",
			       base, impl[k], n, bytes, ms, 1e3 / ms, n / mcpu, crc[k], runs);
		}
		fflush(stdout);
		failed |= bad;
		for (int i = 0; i < n; i++) { free(f[i].data); free(f[i].name); }
		free(f);
	}
	free(out);
	free(t[0]); free(t[1]); free(cpu[0]); free(cpu[1]);
	return failed;
}
