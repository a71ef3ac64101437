/* table.c - a small table model and its text, Markdown, CSV and HTML forms. */
#include "report/internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

rp_table *rp_table_new(const char *id, const char *title, int ncols, const char *const *cols)
{
    rp_table *t = calloc(1, sizeof *t);
    if (!t)
        abort(); /* a report cannot do anything useful without memory */
    snprintf(t->id, sizeof t->id, "%s", id);
    snprintf(t->title, sizeof t->title, "%s", title);
    t->ncols = ncols;
    t->cols = calloc((size_t)ncols, sizeof *t->cols);
    if (!t->cols)
        abort();
    for (int i = 0; i < ncols; i++)
        t->cols[i] = strdup(cols[i]);
    return t;
}

void rp_table_free(rp_table *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i].text);
    for (int i = 0; i < t->ncols; i++)
        free(t->cols[i]);
    free(t->cells);
    free(t->cols);
    free(t);
}

int rp_table_add_row(rp_table *t)
{
    if (t->nrows == t->caprows) {
        int cap = t->caprows ? t->caprows * 2 : 16;
        rp_cell *cells = realloc(t->cells, sizeof *cells * (size_t)cap * (size_t)t->ncols);
        if (!cells)
            abort();
        t->cells = cells;
        t->caprows = cap;
    }
    memset(&t->cells[t->nrows * t->ncols], 0, sizeof *t->cells * (size_t)t->ncols);
    return t->nrows++;
}

static rp_cell *cell(rp_table *t, int row, int col)
{
    return &t->cells[row * t->ncols + col];
}

void rp_set_text(rp_table *t, int row, int col, const char *fmt, ...)
{
    rp_cell *c = cell(t, row, col);
    va_list ap;
    va_start(ap, fmt);
    free(c->text);
    c->text = NULL;
    if (vasprintf(&c->text, fmt, ap) < 0)
        abort();
    va_end(ap);
    c->kind = RP_TEXT;
}

void rp_set_num(rp_table *t, int row, int col, double v, int decimals)
{
    rp_cell *c = cell(t, row, col);
    free(c->text);
    c->text = NULL;
    if (isnan(v)) {
        c->kind = RP_EMPTY;
        return;
    }
    c->kind = RP_NUM;
    c->num = v;
    int rc = decimals < 0 ? asprintf(&c->text, "%g", v) : asprintf(&c->text, "%.*f", decimals, v);
    if (rc < 0)
        abort();
}

void rp_table_note(rp_table *t, const char *fmt, ...)
{
    size_t used = strlen(t->note);
    if (used && used + 1 < sizeof t->note)
        t->note[used++] = '\n';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->note + used, sizeof t->note - used, fmt, ap);
    va_end(ap);
}

static const char *cell_text(const rp_table *t, int row, int col)
{
    const rp_cell *c = &t->cells[row * t->ncols + col];
    return c->kind == RP_EMPTY ? "-" : c->text;
}

/* Display width in terminal columns: UTF-8 continuation bytes take none. */
static int display_width(const char *s)
{
    int w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

/* Figures line up on the right; names and words stay on the left. */
static bool looks_numeric(const rp_cell *c)
{
    if (c->kind != RP_TEXT)
        return true;
    const char *s = c->text;
    return (s[0] >= '0' && s[0] <= '9') || (s[0] == '-' && s[1] >= '0' && s[1] <= '9');
}

static void pad(FILE *out, int n)
{
    for (int i = 0; i < n; i++)
        fputc(' ', out);
}

/* What a table without rows says instead of a bare header: its note (the
 * builder says why it is empty), else that nothing was recorded. */
static const char *empty_note(const rp_table *t)
{
    return t->note[0] ? t->note : "nothing recorded for this table in this run.";
}

void rp_render_text(const rp_table *t, FILE *out)
{
    if (t->nrows == 0) { /* a header over nothing reads as a bug: say why */
        fprintf(out, "%s\n%s\n\n", t->title, empty_note(t));
        return;
    }
    int width[64] = {0};
    int ncols = t->ncols < 64 ? t->ncols : 64;
    for (int c = 0; c < ncols; c++) {
        width[c] = display_width(t->cols[c]);
        for (int r = 0; r < t->nrows; r++) {
            int w = display_width(cell_text(t, r, c));
            width[c] = w > width[c] ? w : width[c];
        }
    }
    fprintf(out, "%s\n", t->title);
    for (int c = 0; c < ncols; c++) {
        fprintf(out, "%s%s", c ? "  " : "", t->cols[c]);
        pad(out, c + 1 < ncols ? width[c] - display_width(t->cols[c]) : 0);
    }
    fputc('\n', out);
    for (int c = 0; c < ncols; c++) {
        fprintf(out, "%s", c ? "  " : "");
        for (int i = 0; i < width[c]; i++)
            fputc('-', out);
    }
    fputc('\n', out);
    for (int r = 0; r < t->nrows; r++) {
        for (int c = 0; c < ncols; c++) {
            const char *s = cell_text(t, r, c);
            int gap = width[c] - display_width(s);
            bool right = looks_numeric(&t->cells[r * t->ncols + c]);
            fprintf(out, "%s", c ? "  " : "");
            pad(out, right ? gap : 0);
            fputs(s, out);
            pad(out, !right && c + 1 < ncols ? gap : 0);
        }
        fputc('\n', out);
    }
    if (t->note[0])
        fprintf(out, "%s\n", t->note);
    fputc('\n', out);
}

static void md_cell(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            fputs("\\|", out);
        else if (*s == '\n')
            fputc(' ', out);
        else
            fputc(*s, out);
    }
}

void rp_render_md(const rp_table *t, FILE *out)
{
    if (t->nrows == 0) {
        fprintf(out, "### %s\n\n%s\n\n", t->title, empty_note(t));
        return;
    }
    fprintf(out, "### %s\n\n|", t->title);
    for (int c = 0; c < t->ncols; c++) {
        fputc(' ', out);
        md_cell(out, t->cols[c]);
        fputs(" |", out);
    }
    fputs("\n|", out);
    for (int c = 0; c < t->ncols; c++)
        fputs(c ? " ---: |" : " --- |", out);
    fputc('\n', out);
    for (int r = 0; r < t->nrows; r++) {
        fputc('|', out);
        for (int c = 0; c < t->ncols; c++) {
            fputc(' ', out);
            md_cell(out, cell_text(t, r, c));
            fputs(" |", out);
        }
        fputc('\n', out);
    }
    if (t->note[0]) {
        fputc('\n', out);
        for (const char *s = t->note; *s; s++)
            fputs(*s == '\n' ? "  \n" : (char[2]){*s, 0}, out);
        fputc('\n', out);
    }
    fputc('\n', out);
}

void rp_csv_field(FILE *out, const char *s)
{
    if (!s)
        return;
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

/* The shortest text that reads back as the same double: 43.1, not
 * 43.100000000000001. */
/* CSV numbers: whole numbers exactly (bytes, epoch ms, counts), others to
 * 6 decimals (ms, MiB and percent far below their measurement noise), and
 * values under 0.001 to 6 significant digits; trailing zeros dropped.
 * 22.356368000000018 prints as 22.356368. */
static void print_rounded(FILE *out, double v)
{
    char buf[64];
    if (v == floor(v) && fabs(v) < 1e15)
        snprintf(buf, sizeof buf, "%.0f", v);
    else if (fabs(v) < 1e-3)
        snprintf(buf, sizeof buf, "%.6g", v);
    else {
        snprintf(buf, sizeof buf, "%.6f", v);
        char *end = buf + strlen(buf) - 1;
        while (*end == '0')
            *end-- = '\0';
        if (*end == '.')
            *end = '\0';
    }
    fputs(strcmp(buf, "-0") == 0 ? "0" : buf, out);
}

void rp_render_csv(const rp_table *t, FILE *out)
{
    for (int c = 0; c < t->ncols; c++) {
        if (c)
            fputc(',', out);
        rp_csv_field(out, t->cols[c]);
    }
    fputc('\n', out);
    for (int r = 0; r < t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++) {
            const rp_cell *x = &t->cells[r * t->ncols + c];
            if (c)
                fputc(',', out);
            if (x->kind == RP_NUM)
                print_rounded(out, x->num);
            else if (x->kind == RP_TEXT)
                rp_csv_field(out, x->text);
        }
        fputc('\n', out);
    }
}

void rp_html_escape(FILE *out, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '&':
            fputs("&amp;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        default:
            fputc(*s, out);
        }
    }
}

void rp_render_html_table(const rp_table *t, FILE *out)
{
    if (t->nrows == 0) {
        fputs("<p class=\"note empty\"><b>", out);
        rp_html_escape(out, t->title);
        fputs("</b>: ", out);
        rp_html_escape(out, empty_note(t));
        fputs("</p>\n", out);
        return;
    }
    fputs("<table><caption>", out);
    rp_html_escape(out, t->title);
    fputs("</caption>\n<thead><tr>", out);
    for (int c = 0; c < t->ncols; c++) {
        fputs("<th>", out);
        rp_html_escape(out, t->cols[c]);
        fputs("</th>", out);
    }
    fputs("</tr></thead>\n<tbody>\n", out);
    for (int r = 0; r < t->nrows; r++) {
        fputs("<tr>", out);
        for (int c = 0; c < t->ncols; c++) {
            bool num = t->cells[r * t->ncols + c].kind == RP_NUM;
            fputs(num ? "<td class=\"n\">" : "<td>", out);
            rp_html_escape(out, cell_text(t, r, c));
            fputs("</td>", out);
        }
        fputs("</tr>\n", out);
    }
    fputs("</tbody></table>\n", out);
    if (t->note[0]) {
        fputs("<p class=\"note\">", out);
        for (const char *s = t->note; *s; s++) {
            if (*s == '\n')
                fputs("<br>", out);
            else
                rp_html_escape(out, (char[2]){*s, 0});
        }
        fputs("</p>\n", out);
    }
}
