/*
 * html_assets.h -- the files of the HTML page (analyzer/formats/html/: the page's skeleton,
 * its style sheet and its script), embedded in the binary at build time: scripts/embed-assets
 * writes html_assets.c from them (Makefile.am), so they are edited as what they are, never as
 * C strings.
 *
 * Contract: analyzer-only, read-only data. Each array holds the file's bytes followed by one
 * NUL (not counted in its _len). report.html holds the markers @CSS@, @DATA@ and @JS@ where
 * formats/html.c puts the style sheet, the JSON blob and the script.
 */
#ifndef PERFSHIM_HTML_ASSETS_H
#define PERFSHIM_HTML_ASSETS_H

#include <stddef.h>

extern const unsigned char html_report_html[], html_report_css[], html_report_js[];
extern const size_t html_report_html_len, html_report_css_len, html_report_js_len;

#endif /* PERFSHIM_HTML_ASSETS_H */
