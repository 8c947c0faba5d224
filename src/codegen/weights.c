/* Weight tensors of the generated code: each in the smallest of its forms, as the .slim codecs
 * choose (io/sparse_codec.h: only +0.0 is left out, or an int8 layer's 0, small tensors stay
 * dense, dense on ties; sn_sparse_choose and sn_sparse_choose_i8), counted here in the bytes of
 * the C arrays the kernels read, V bytes a value (4 float, 1 int8):
 *   dense    V bytes a value
 *   CSR      V bytes a stored value, a 16-bit count per row, and per stored value its gap code
 *            (8 or 16 bits; a gap of 255 or more takes escape codes of 255, or 65535, first)
 *   bitmap   a bit per value and V bytes a stored value */
#include "codegen/codegen_internal.h"
#include "io/sparse_codec.h"

const char *const sn_cg_form_names[SN_CG_FORMS] = {"dense", "csr8", "csr16", "bitmap"};

/* A weight's values: float, or an int8 layer's (q; x then only names the tensor). */
typedef struct { const float *x; const int8_t *q; } values;

/* Value i is stored: any float but +0.0, any int8 but 0. */
static int is_stored(values v, size_t i)
{
	if (v.q) return v.q[i] != 0;
	uint32_t u;
	memcpy(&u, &v.x[i], sizeof u);
	return u != 0;
}

/* The codes of the gaps of the row starting at value `at`, at escape value max. */
static size_t row_codes(values v, size_t at, size_t cols, size_t max)
{
	size_t n = 0, gap = 0;
	for (size_t i = 0; i < cols; i++) {
		if (!is_stored(v, at + i)) { gap++; continue; }
		n += gap / max + 1;
		gap = 0;
	}
	return n;
}

static size_t value_bytes(values v) { return v.q ? 1 : 4; }

/* Bytes of each form; CSR needs rows of at most 65535 values (16-bit counts): SIZE_MAX else. */
static void form_bytes(values v, size_t rows, size_t cols, size_t bytes[SN_CG_FORMS], size_t *stored)
{
	const size_t vb = value_bytes(v);
	size_t nnz = 0, c8 = 0, c16 = 0;
	for (size_t r = 0; r < rows; r++) {
		c8 += row_codes(v, r * cols, cols, 255);
		c16 += row_codes(v, r * cols, cols, 65535);
	}
	for (size_t i = 0; i < rows * cols; i++) nnz += is_stored(v, i);
	*stored = nnz;
	bytes[SN_CG_DENSE] = vb * rows * cols;
	bytes[SN_CG_CSR8] = cols <= 65535 ? vb * nnz + 2 * rows + c8 : SIZE_MAX;
	bytes[SN_CG_CSR16] = cols <= 65535 ? vb * nnz + 2 * rows + 2 * c16 : SIZE_MAX;
	bytes[SN_CG_BITMAP] = (rows * cols + 7) / 8 + vb * nnz;
}

static sn_cg_form choose(const size_t bytes[SN_CG_FORMS], size_t n, sn_cg_force force)
{
	switch (force) {
	case SN_CG_FORCE_DENSE: return SN_CG_DENSE;
	case SN_CG_FORCE_CSR:
		if (bytes[SN_CG_CSR8] == SIZE_MAX) return SN_CG_BITMAP;   /* rows too long for CSR */
		return bytes[SN_CG_CSR16] < bytes[SN_CG_CSR8] ? SN_CG_CSR16 : SN_CG_CSR8;
	case SN_CG_FORCE_BITMAP: return SN_CG_BITMAP;
	default: break;
	}
	sn_cg_form best = SN_CG_DENSE;
	if (n < SN_SPARSE_MIN_VALUES) return best;
	for (int f = 1; f < SN_CG_FORMS; f++)
		if (bytes[f] < bytes[best]) best = (sn_cg_form)f;
	return best;
}

static void put_u16s(sn_buf *b, const char *name, const unsigned *v, size_t n)
{
	cg_printf(b, "static const unsigned short %s[%zu] = {", name, n);
	for (size_t i = 0; i < n; i++) cg_printf(b, "%s%u", cg_sep(i, 16), v[i]);
	cg_printf(b, "\n};\n");
}

static void put_u8s(sn_buf *b, const char *name, const unsigned *v, size_t n)
{
	cg_printf(b, "static const unsigned char %s[%zu] = {", name, n);
	for (size_t i = 0; i < n; i++) cg_printf(b, "%s%u", cg_sep(i, 16), v[i]);
	cg_printf(b, "\n};\n");
}

/* The CSR arrays: per row its count, then the gap codes (escapes first). */
static int put_csr(cg_ctx *cx, values v, size_t rows, size_t cols, size_t ncodes, int wide, const char *name)
{
	const unsigned max = wide ? 65535u : 255u;
	unsigned *count = calloc(rows ? rows : 1, sizeof *count), *code = malloc((ncodes ? ncodes : 1) * sizeof *code);
	if (!count || !code) { free(count); free(code); return sn_seterr(SN_ENOMEM, "out of memory writing C code"); }
	size_t k = 0;
	for (size_t r = 0; r < rows; r++) {
		size_t gap = 0;
		count[r] = 0;
		for (size_t i = 0; i < cols; i++) {
			if (!is_stored(v, r * cols + i)) { gap++; continue; }
			for (; gap >= max; gap -= max) code[k++] = max;
			code[k++] = (unsigned)gap;
			gap = 0;
			count[r]++;
		}
	}
	char nm[160];
	snprintf(nm, sizeof nm, "%s_count", name);
	put_u16s(&cx->consts, nm, count, rows);
	snprintf(nm, sizeof nm, "%s_code", name);
	if (k) (wide ? put_u16s : put_u8s)(&cx->consts, nm, code, k);
	free(count); free(code);
	return SN_OK;
}

static void put_bitmap(cg_ctx *cx, values v, size_t n, const char *name)
{
	cg_printf(&cx->consts, "static const unsigned char %s_bits[%zu] = {", name, (n + 7) / 8);
	for (size_t i = 0; i < n; i += 8) {
		unsigned byte = 0;
		for (size_t j = 0; j < 8 && i + j < n; j++) byte |= (unsigned)is_stored(v, i + j) << j;
		cg_printf(&cx->consts, "%s0x%02x", cg_sep(i / 8, 16), byte);
	}
	cg_printf(&cx->consts, "\n};\n");
}

/* An int8 layer's values as NAME_q: the stored ones (sparse), or every one. */
static void put_int8s(cg_ctx *cx, const char *name, values v, size_t n, size_t count, int sparse)
{
	cg_printf(&cx->consts, "static const signed char %s_q[%zu] = {", name, count);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (!sparse || is_stored(v, i)) cg_printf(&cx->consts, "%s%d", cg_sep(k++, 16), v.q[i]);
	cg_printf(&cx->consts, "\n};\n");
}

/* The stored values of a sparse form as NAME_val, or NAME_q for int8 (no array when there are
 * none: the wt gets 0). */
static int put_stored(cg_ctx *cx, values x, size_t n, size_t nnz, const char *name)
{
	if (!nnz) return SN_OK;
	if (x.q) { put_int8s(cx, name, x, n, nnz, 1); return SN_OK; }
	float *v = malloc(nnz * sizeof *v);
	if (!v) return sn_seterr(SN_ENOMEM, "out of memory writing C code");
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (is_stored(x, i)) v[k++] = x.x[i];
	char nm[160];
	snprintf(nm, sizeof nm, "%s_val", name);
	cg_floats(cx, nm, v, nnz);
	free(v);
	return SN_OK;
}

/* name + suffix where the array exists, else a null pointer. */
static void array_ref(char out[176], const char *name, const char *suffix, int exists)
{
	if (exists) snprintf(out, 176, "%s%s", name, suffix);
	else snprintf(out, 176, "0");
}

/* Adds a constant array to the report. */
static int note_tensor(cg_ctx *cx, const char *tname, sn_cg_form f, size_t values, size_t stored, size_t bytes,
                       size_t dense_bytes)
{
	sn_cg_result *r = cx->r;
	sn_cg_tensor *nt = realloc(r->tensor, (size_t)(r->n_tensor + 1) * sizeof *nt);
	if (!nt) return sn_seterr(SN_ENOMEM, "out of memory writing C code");
	r->tensor = nt;
	sn_cg_tensor *e = &nt[r->n_tensor++];
	*e = (sn_cg_tensor){.form = f, .values = values, .stored = stored, .bytes = bytes, .dense_bytes = dense_bytes};
	snprintf(e->name, sizeof e->name, "%s", tname);
	return SN_OK;
}

int cg_weight(cg_ctx *cx, const sn_tensor *t, const int8_t *q, size_t rows, size_t cols, const char *name)
{
	size_t bytes[SN_CG_FORMS], nnz;
	const values x = {t->data, q};
	const size_t vb = value_bytes(x);
	form_bytes(x, rows, cols, bytes, &nnz);
	const sn_cg_form f = choose(bytes, t->n, cx->o.force);
	const size_t ncodes = f == SN_CG_CSR8 ? bytes[f] - vb * nnz - 2 * rows
	                    : f == SN_CG_CSR16 ? (bytes[f] - vb * nnz - 2 * rows) / 2 : 0;
	int rc = SN_OK;
	char nm[160];
	if (f == SN_CG_DENSE && q) {
		put_int8s(cx, name, x, rows * cols, rows * cols, 0);
	} else if (f == SN_CG_DENSE) {
		snprintf(nm, sizeof nm, "%s_val", name);
		cg_floats(cx, nm, x.x, rows * cols);
	} else {
		rc = put_stored(cx, x, rows * cols, nnz, name);
		if (!rc && f == SN_CG_BITMAP) put_bitmap(cx, x, rows * cols, name);
		if (!rc && f != SN_CG_BITMAP) rc = put_csr(cx, x, rows, cols, ncodes, f == SN_CG_CSR16, name);
	}
	if (rc) return rc;
	const int csr = f == SN_CG_CSR8 || f == SN_CG_CSR16, has_values = f == SN_CG_DENSE || nnz;
	char val[176], cnt[176], c8[176], c16[176], bits[176], qv[176];
	array_ref(val, name, "_val", has_values && !q);
	array_ref(qv, name, "_q", has_values && q);
	array_ref(cnt, name, "_count", csr);
	array_ref(c8, name, "_code", f == SN_CG_CSR8 && ncodes);
	array_ref(c16, name, "_code", f == SN_CG_CSR16 && ncodes);
	array_ref(bits, name, "_bits", f == SN_CG_BITMAP);
	cg_printf(&cx->consts, "static const wt %s = {%d, %zu, %zu, %s, %s, %s, %s, %s, %s};\n", name, (int)f, rows, cols, val,
	          cnt, c8, c16, bits, qv);
	cx->forms |= 1u << f;
	return note_tensor(cx, t->name, f, t->n, f == SN_CG_DENSE ? t->n : nnz, bytes[f], vb * t->n);
}

int cg_note_dense(cg_ctx *cx, const char *tname, size_t values, size_t value_bytes)
{
	return note_tensor(cx, tname, SN_CG_DENSE, values, values, value_bytes * values, value_bytes * values);
}
