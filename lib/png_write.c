/* PNG output through libpng, into an atomic output (io.h). */
#include "png_write.h"
#include "err.h"
#include "io.h"

#include <png.h>

/* libpng's error callback must not return: print one line, remove the
 * temporary file (rn_die does) and exit. */
static void on_error(png_structp png, png_const_charp msg)
{
    const char *path = png_get_error_ptr(png);
    rn_die("cannot write %s: %s", path, msg);
}
static void on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

void rn_png_write_rgb(const char *path, const uint8_t *rgb, uint32_t width, uint32_t height)
{
    RnOut *out = rn_out_open(path);
    const char *shown = rn_is_stdio(path) ? "stdout" : path;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, (void *)shown, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info)
        rn_die("cannot write %s: cannot start libpng", shown);
    png_init_io(png, rn_out_file(out));
    png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (uint32_t y = 0; y < height; y++)
        png_write_row(png, rgb + (size_t)y * width * 3);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    rn_out_commit(out);
}
