/*  svg.h - charts as SVG files, written by hand: a document, lines,
    polylines, rectangles and text (escaped for XML), and the palette.

    Used by kpbench's latency plot and kpctl's reports. Coordinates are
    pixels from the top left. Write errors are collected and reported
    once, by kp_svg_close.
*/
#ifndef KP_SVG_H_INCLUDED
#define KP_SVG_H_INCLUDED

#include <stddef.h>

typedef struct _kp_svg_t kp_svg_t;

//  Creates path (mode 0644: a chart is meant to be shared) with a white
//  background and title at the top. NULL with the problem in err.
kp_svg_t *kp_svg_new(const char *path, int width, int height, const char *title, char *err,
                     size_t errlen);

//  Ends the document and closes the file; 0, or -1 with the problem in
//  err (any write that failed). Nulls the caller's pointer.
int kp_svg_close(kp_svg_t **self_p, char *err, size_t errlen);

//  A line; dash is NULL (solid) or a stroke-dasharray such as "6 4".
void kp_svg_line(kp_svg_t *self, double x1, double y1, double x2, double y2, const char *stroke,
                 double width, const char *dash);

void kp_svg_rect(kp_svg_t *self, double x, double y, double w, double h, const char *fill);

//  Text at (x, y); anchor is "start", "middle" or "end"; printf-style,
//  escaped. kp_svg_vtext turns it a quarter left (a y axis's label).
void kp_svg_text(kp_svg_t *self, double x, double y, const char *anchor, const char *format, ...)
    __attribute__((format(printf, 5, 6)));
void kp_svg_vtext(kp_svg_t *self, double x, double y, const char *text);

//  A polyline: begin, points, end.
void kp_svg_poly_begin(kp_svg_t *self, const char *stroke, double width);
void kp_svg_poly_point(kp_svg_t *self, double x, double y);
void kp_svg_poly_end(kp_svg_t *self);

//  A legend entry: a short thick line in color and the label, at row
//  index of a legend whose top left is (x, y).
void kp_svg_legend(kp_svg_t *self, double x, double y, size_t index, const char *color,
                   const char *label);

//  The index-th color of a palette of ten, then again.
const char *kp_svg_color(size_t index);

#endif
