/*  svg.c - charts as SVG files; see svg.h. */
#include "svg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct _kp_svg_t {
    FILE *file;
    char path[512];
};

static const char *s_palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                  "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

const char *kp_svg_color(size_t index)
{
    return s_palette[index % 10];
}

//  Writes text with &, <, > and " escaped.
static void s_escaped(FILE *file, const char *text)
{
    for (const char *p = text; *p; p++) {
        if (*p == '&')
            fputs("&amp;", file);
        else if (*p == '<')
            fputs("&lt;", file);
        else if (*p == '>')
            fputs("&gt;", file);
        else if (*p == '"')
            fputs("&quot;", file);
        else
            fputc(*p, file);
    }
}

kp_svg_t *kp_svg_new(const char *path, int width, int height, const char *title, char *err,
                     size_t errlen)
{
    kp_svg_t *self = calloc(1, sizeof *self);
    int fd = self ? open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
    if (fd >= 0 && !(self->file = fdopen(fd, "w")))
        close(fd);
    if (!self || !self->file) {
        snprintf(err, errlen, "cannot write the chart %s: %s", path, strerror(errno));
        free(self);
        return NULL;
    }
    snprintf(self->path, sizeof self->path, "%s", path);
    fprintf(self->file,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            width, height, width, height);
    kp_svg_text(self, 20, 22, "start", "%s", title);
    return self;
}

int kp_svg_close(kp_svg_t **self_p, char *err, size_t errlen)
{
    kp_svg_t *self = *self_p;
    if (!self)
        return 0;
    fputs("</svg>\n", self->file);
    bool bad = ferror(self->file) != 0;
    bad = (fclose(self->file) != 0) || bad;
    if (bad)
        snprintf(err, errlen, "cannot write the chart %s: %s", self->path, strerror(errno));
    free(self);
    *self_p = NULL;
    return bad ? -1 : 0;
}

void kp_svg_line(kp_svg_t *self, double x1, double y1, double x2, double y2, const char *stroke,
                 double width, const char *dash)
{
    fprintf(self->file,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
            "stroke-width=\"%.1f\"",
            x1, y1, x2, y2, stroke, width);
    if (dash)
        fprintf(self->file, " stroke-dasharray=\"%s\"", dash);
    fputs("/>\n", self->file);
}

void kp_svg_rect(kp_svg_t *self, double x, double y, double w, double h, const char *fill)
{
    fprintf(self->file,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>\n", x, y,
            w < 0 ? 0 : w, h < 0 ? 0 : h, fill);
}

void kp_svg_text(kp_svg_t *self, double x, double y, const char *anchor, const char *format, ...)
{
    char text[1024];
    va_list args;
    va_start(args, format);
    vsnprintf(text, sizeof text, format, args);
    va_end(args);
    fprintf(self->file, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">", x, y, anchor);
    s_escaped(self->file, text);
    fputs("</text>\n", self->file);
}

void kp_svg_vtext(kp_svg_t *self, double x, double y, const char *text)
{
    fprintf(self->file,
            "<text x=\"%.1f\" y=\"%.1f\" transform=\"rotate(-90 %.1f %.1f)\" "
            "text-anchor=\"middle\">",
            x, y, x, y);
    s_escaped(self->file, text);
    fputs("</text>\n", self->file);
}

void kp_svg_poly_begin(kp_svg_t *self, const char *stroke, double width)
{
    fprintf(self->file, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\" points=\"",
            stroke, width);
}

void kp_svg_poly_point(kp_svg_t *self, double x, double y)
{
    fprintf(self->file, "%.1f,%.1f ", x, y);
}

void kp_svg_poly_end(kp_svg_t *self)
{
    fputs("\"/>\n", self->file);
}

void kp_svg_legend(kp_svg_t *self, double x, double y, size_t index, const char *color,
                   const char *label)
{
    double ly = y + 20.0 * (double)index;
    kp_svg_line(self, x, ly, x + 25, ly, color, 3, NULL);
    kp_svg_text(self, x + 31, ly + 4, "start", "%s", label);
}
