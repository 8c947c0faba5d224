/* Shape arithmetic, evaluated at import: torch writes x.view(x.size(0), -1) as Shape -> Gather
 * -> Unsqueeze -> Concat, a channel shuffle's view sizes with Div and Cast, a chunk's bounds
 * with Add, Div and Mul, and the pads of a reflect/replicate conv as ConstantOfShape -> Concat
 * -> Reshape [-1, 2] -> Slice (reversed) -> Transpose -> Reshape [-1]. These are small integer
 * vectors (or, for the pads, a matrix) of at most INTS_MAX values; the batch size is the
 * symbol SYM_BATCH, which no arithmetic may touch. */
#include "onnx/onnx_import.h"

int sn_onnx_is_ints(const value *v)
{
	if (v->kind == V_INTS) return 1;
	if (v->kind != V_CONST || !v->t->has_data_type) return 0;
	return v->t->data_type == SN_ONNX_INT64 || v->t->data_type == SN_ONNX_INT32;
}

int sn_onnx_def_ints(ctx *c, const value *r)
{
	value *v = sn_onnx_define(c, c->nd->output[0], V_INTS);
	if (!v) return node_err(c, SN_EFORMAT, "%s", sn_errmsg());
	memcpy(v->ints, r->ints, sizeof r->ints);
	v->n_ints = r->n_ints;
	v->scalar = r->scalar;
	v->cols = r->cols;
	return SN_OK;
}

/* The input as a vector (not a matrix). */
static int vector_input(ctx *c, size_t i, value *out)
{
	int rc = sn_onnx_ints_input(c, i, out);
	if (!rc && out->cols) return node_err(c, SN_EFORMAT, "input %zu is an integer matrix; a vector is needed here", i);
	return rc;
}

int sn_onnx_op_shape(ctx *c)
{
	int x = 0, rc;
	value *xv;
	if ((rc = sn_onnx_need_inputs(c, 1, 1)) || (rc = sn_onnx_input(c, 0, &xv)) || (rc = sn_onnx_data_input(c, 0, &x))) return rc;
	sn_shape s = c->g->node[x].out;
	s.rank = sn_onnx_rank(c, xv, x);   /* [N, C] seen as [N, C, 1] or [N, C, 1, 1] */
	value r = {.kind = V_INTS, .n_ints = s.rank};
	int64_t full[4] = {SYM_BATCH, s.c, s.h, s.w}, start, end;
	memcpy(r.ints, full, sizeof full);
	if ((rc = sn_onnx_attr_int(c, "start", 0, -INTS_MAX, INTS_MAX, &start)) ||
	    (rc = sn_onnx_attr_int(c, "end", s.rank, -INTS_MAX, INTS_MAX, &end)))
		return rc;
	if (start < 0) start += s.rank;
	if (end < 0) end += s.rank;
	start = SN_MAX(0, SN_MIN(start, s.rank));
	end = SN_MAX(start, SN_MIN(end, s.rank));
	memmove(r.ints, r.ints + start, (size_t)(end - start) * sizeof *r.ints);
	r.n_ints = (int)(end - start);
	return sn_onnx_def_ints(c, &r);
}

int sn_onnx_op_gather(ctx *c)
{
	int rc;
	value d, idx, *dv;
	int64_t axis;
	if ((rc = sn_onnx_need_inputs(c, 2, 2)) || (rc = sn_onnx_attr_int(c, "axis", 0, -1, 0, &axis))) return rc;
	if ((rc = sn_onnx_input(c, 0, &dv))) return rc;
	if (!sn_onnx_is_ints(dv)) return node_err(c, SN_EFORMAT, "Gather is supported only on shapes (x.size(i)), not on tensors");
	if ((rc = vector_input(c, 0, &d)) || (rc = vector_input(c, 1, &idx))) return rc;
	value r = {.kind = V_INTS, .n_ints = idx.n_ints, .scalar = idx.scalar};
	for (int i = 0; i < idx.n_ints; i++) {
		int64_t k = idx.ints[i] < 0 ? idx.ints[i] + d.n_ints : idx.ints[i];
		if (k < 0 || k >= d.n_ints) return node_err(c, SN_EFORMAT, "Gather index %lld is out of range", (long long)idx.ints[i]);
		r.ints[i] = d.ints[k];
	}
	return sn_onnx_def_ints(c, &r);
}

/* A scalar to a 1-element vector (shape arithmetic), or a vector [N, C] to [N, C, 1, 1]. */
int sn_onnx_op_unsqueeze(ctx *c)
{
	int rc, f;
	value d, axes = {0}, *dv;
	if ((rc = sn_onnx_input(c, 0, &dv))) return rc;
	if (c->opset >= 13) {
		if ((rc = sn_onnx_need_inputs(c, 2, 2)) || (rc = vector_input(c, 1, &axes))) return rc;
	} else if ((rc = sn_onnx_need_inputs(c, 1, 1)) || (rc = sn_onnx_attr_ints_any(c, "axes", &axes, &f))) {
		return rc;
	}
	if (!sn_onnx_is_ints(dv)) {   /* new axes of size 1 after C, up to [N, C, 1, 1] */
		int x;
		if ((rc = sn_onnx_data_input(c, 0, &x))) return rc;
		const int r = sn_onnx_rank(c, dv, x), out = r + axes.n_ints;
		unsigned seen = 0;
		for (int i = 0; i < axes.n_ints && out <= 4; i++) {
			const int a = sn_onnx_axis(axes.ints[i], out);
			seen |= a >= 2 && !(seen & (1u << a)) ? 1u << a : 1u;
		}
		if (c->g->node[x].out.rank != 2 || !axes.n_ints || out > 4 || (seen & 3u))
			return node_err(c, SN_EFORMAT, "Unsqueeze of a tensor is supported only from [N, C] towards [N, C, 1, 1]");
		value v = {.kind = V_NODE, .node = x, .onnx_rank = out, .qdq = sn_onnx_qdq_read_by(c, x)};
		return sn_onnx_alias(c, 0, &v);
	}
	if ((rc = vector_input(c, 0, &d))) return rc;
	if (!d.scalar || axes.n_ints != 1 || (axes.ints[0] != 0 && axes.ints[0] != -1))
		return node_err(c, SN_EFORMAT, "only Unsqueeze of a scalar to a 1-element vector is supported");
	d.scalar = 0;
	return sn_onnx_def_ints(c, &d);
}

int sn_onnx_op_constant(ctx *c)
{
	const Onnx__AttributeProto *a = sn_onnx_attr(c, "value");
	if (a && a->t) {
		value *v = sn_onnx_define(c, c->nd->output[0], V_CONST);
		if (!v) return node_err(c, SN_EFORMAT, "%s", sn_errmsg());
		v->t = a->t;
		return SN_OK;
	}
	a = sn_onnx_attr(c, "value_ints");
	const Onnx__AttributeProto *one = sn_onnx_attr(c, "value_int");
	if ((a && a->n_ints <= INTS_MAX) || (one && one->has_i)) {
		value r = {.kind = V_INTS, .n_ints = a ? (int)a->n_ints : 1, .scalar = !a};
		for (int i = 0; i < r.n_ints; i++) r.ints[i] = a ? a->ints[i] : one->i;
		return sn_onnx_def_ints(c, &r);
	}
	return node_err(c, SN_EFORMAT, "only Constant nodes with a tensor 'value' or integers are supported");
}

/* ConstantOfShape([k]) with an integer value: k copies of it. */
int sn_onnx_op_constant_of_shape(ctx *c)
{
	int rc;
	value shape, fill = {0};
	if ((rc = sn_onnx_need_inputs(c, 1, 1)) || (rc = vector_input(c, 0, &shape))) return rc;
	const Onnx__AttributeProto *a = sn_onnx_attr(c, "value");
	if (!a || !a->t) return node_err(c, SN_EFORMAT, "ConstantOfShape is supported only with an integer 'value' (shape arithmetic)");
	if ((rc = sn_onnx_get_ints(a->t, "value", &fill))) return node_err(c, rc, "%s", sn_errmsg());
	if (shape.n_ints != 1 || fill.n_ints != 1 || shape.ints[0] < 0 || shape.ints[0] > INTS_MAX)
		return node_err(c, SN_EFORMAT, "ConstantOfShape is supported only for integer vectors of at most %d values", INTS_MAX);
	value r = {.kind = V_INTS, .n_ints = (int)shape.ints[0]};
	for (int i = 0; i < r.n_ints; i++) r.ints[i] = fill.ints[0];
	return sn_onnx_def_ints(c, &r);
}

static int checked(ctx *c, char op, int64_t x, int64_t y, int64_t *out)
{
	int bad = 0;
	switch (op) {
	case '+': bad = __builtin_add_overflow(x, y, out); break;
	case '-': bad = __builtin_sub_overflow(x, y, out); break;
	case '*': bad = __builtin_mul_overflow(x, y, out); break;
	default:
		if (y == 0) return node_err(c, SN_EFORMAT, "integer division by zero");
		if (x == INT64_MIN && y == -1) bad = 1;
		else *out = x / y;   /* ONNX Div on integers truncates, as C does */
	}
	return bad ? node_err(c, SN_EFORMAT, "integer overflow in shape arithmetic") : SN_OK;
}

int sn_onnx_ints_arith(ctx *c, char op)
{
	int rc;
	value a, b;
	if ((rc = vector_input(c, 0, &a)) || (rc = vector_input(c, 1, &b))) return rc;
	if (a.n_ints != b.n_ints && a.n_ints != 1 && b.n_ints != 1)
		return node_err(c, SN_EFORMAT, "integer vectors of %d and %d values do not broadcast", a.n_ints, b.n_ints);
	value r = {.kind = V_INTS, .n_ints = SN_MAX(a.n_ints, b.n_ints), .scalar = a.scalar && b.scalar};
	if (!a.n_ints || !b.n_ints) r.n_ints = 0;
	for (int i = 0; i < r.n_ints; i++) {
		int64_t x = a.ints[a.n_ints == 1 ? 0 : i], y = b.ints[b.n_ints == 1 ? 0 : i];
		if (x == SYM_BATCH || y == SYM_BATCH)
			return node_err(c, SN_EFORMAT, "arithmetic on the batch size is not supported (slimnn sets the batch per call)");
		if ((rc = checked(c, op, x, y, &r.ints[i]))) return rc;
	}
	return sn_onnx_def_ints(c, &r);
}

int sn_onnx_ints_concat(ctx *c)
{
	value r = {.kind = V_INTS};
	int rc;
	for (size_t i = 0; i < c->nd->n_input; i++) {
		value s;
		if ((rc = vector_input(c, i, &s))) return rc;
		if (r.n_ints + s.n_ints > INTS_MAX) return node_err(c, SN_EFORMAT, "the integer vector is too long");
		memcpy(r.ints + r.n_ints, s.ints, s.n_ints * sizeof *s.ints);
		r.n_ints += s.n_ints;
	}
	return sn_onnx_def_ints(c, &r);
}

/* To a vector ([-1], [n]) or a matrix ([-1, k], [r, -1], [r, k]). */
int sn_onnx_ints_reshape(ctx *c, const value *data)
{
	int rc;
	value s, r = *data;
	if ((rc = vector_input(c, 1, &s))) return rc;
	int64_t known = 1, free_at = -1;
	for (int i = 0; i < s.n_ints; i++) {
		if (s.ints[i] == -1 && free_at < 0) free_at = i;
		else if (s.ints[i] > 0 && s.ints[i] <= INTS_MAX) known *= s.ints[i];
		else return node_err(c, SN_EFORMAT, "Reshape of an integer vector to dimension %lld is not supported", (long long)s.ints[i]);
	}
	if (s.n_ints < 1 || s.n_ints > 2 || known > INTS_MAX || (free_at < 0 ? known != data->n_ints : data->n_ints % known))
		return node_err(c, SN_EFORMAT, "an integer vector of %d values cannot be reshaped to %d dimensions like that",
		                data->n_ints, s.n_ints);
	r.scalar = 0;
	r.cols = s.n_ints == 2 ? (int)(free_at == 1 ? data->n_ints / known : s.ints[1]) : 0;
	return sn_onnx_def_ints(c, &r);
}

int sn_onnx_ints_transpose(ctx *c, const value *data)
{
	value perm, r = *data;
	int f, rc = sn_onnx_attr_ints_any(c, "perm", &perm, &f);
	if (rc) return rc;
	const int rank = data->cols ? 2 : 1, swap = rank == 2 && (!f || (perm.n_ints == 2 && perm.ints[0] == 1 && perm.ints[1] == 0));
	if (f && !swap && !(perm.n_ints == rank && perm.ints[0] == 0 && (rank == 1 || perm.ints[1] == 1)))
		return node_err(c, SN_EFORMAT, "Transpose of an integer %s with this perm is not supported", rank == 2 ? "matrix" : "vector");
	if (swap) {
		const int cols = data->cols, rows = data->n_ints / cols;
		for (int i = 0; i < rows; i++)
			for (int j = 0; j < cols; j++) r.ints[j * rows + i] = data->ints[i * cols + j];
		r.cols = rows;
	}
	return sn_onnx_def_ints(c, &r);
}

int sn_onnx_slice_args(ctx *c, value *starts, value *ends, value *axes, value *steps)
{
	int rc, f[3];
	memset(axes, 0, sizeof *axes);
	memset(steps, 0, sizeof *steps);
	if (c->opset < 10) {   /* attributes, no steps */
		if ((rc = sn_onnx_need_inputs(c, 1, 1)) || (rc = sn_onnx_attr_ints_any(c, "starts", starts, &f[0])) ||
		    (rc = sn_onnx_attr_ints_any(c, "ends", ends, &f[1])) || (rc = sn_onnx_attr_ints_any(c, "axes", axes, &f[2])))
			return rc;
		if (!f[0] || !f[1]) return node_err(c, SN_EFORMAT, "Slice needs starts and ends");
	} else {
		if ((rc = sn_onnx_need_inputs(c, 3, 5)) || (rc = vector_input(c, 1, starts)) || (rc = vector_input(c, 2, ends)) ||
		    (sn_onnx_in_name(c, 3) && (rc = vector_input(c, 3, axes))) ||
		    (sn_onnx_in_name(c, 4) && (rc = vector_input(c, 4, steps))))
			return rc;
	}
	const int n = starts->n_ints;
	if (n < 1 || ends->n_ints != n || (axes->n_ints && axes->n_ints != n) || (steps->n_ints && steps->n_ints != n))
		return node_err(c, SN_EFORMAT, "Slice's starts, ends, axes and steps must have the same positive length");
	for (int i = 0; i < n; i++) {
		if (!axes->n_ints) axes->ints[i] = i;
		if (!steps->n_ints) steps->ints[i] = 1;
		if (steps->ints[i] == 0) return node_err(c, SN_EFORMAT, "Slice with a step of 0");
	}
	axes->n_ints = steps->n_ints = n;
	return SN_OK;
}

/* Along axis 0 only: elements of a vector, rows of a matrix (steps may be negative). */
int sn_onnx_ints_slice(ctx *c, const value *data)
{
	value st, en, ax, sp, r = *data;
	int rc = sn_onnx_slice_args(c, &st, &en, &ax, &sp);
	if (rc) return rc;
	const int rank = data->cols ? 2 : 1, width = data->cols ? data->cols : 1, rows = data->n_ints / width;
	if (st.n_ints != 1 || sn_onnx_axis(ax.ints[0], rank) != 0)
		return node_err(c, SN_EFORMAT, "Slice of an integer %s is supported along its first axis only",
		                rank == 2 ? "matrix" : "vector");
	int64_t s = st.ints[0], e = en.ints[0], step = sp.ints[0];
	sn_onnx_slice_range(rows, step, &s, &e);
	r.n_ints = 0;
	for (int64_t i = s; step > 0 ? i < e : i > e; i += step) {
		memcpy(r.ints + r.n_ints, data->ints + i * width, (size_t)width * sizeof *r.ints);
		r.n_ints += width;
		if (step > INTS_MAX || step < -INTS_MAX) break;   /* one element; also keeps i from overflowing */
	}
	r.scalar = 0;
	return sn_onnx_def_ints(c, &r);
}
