/* Writing an 8-bit RGB image as a PNG file (libpng), atomically. */
#ifndef RN_PNG_WRITE_H
#define RN_PNG_WRITE_H

#include <stdint.h>

/* rgb: height rows of width x 3 bytes (R, G, B). path "-" is stdout. */
void rn_png_write_rgb(const char *path, const uint8_t *rgb, uint32_t width, uint32_t height);

#endif
