/* fuzz_imap: the IMAP command parser fed in input-chosen chunk sizes, sequence
 * sets, and IMAP URLs (each parsed argument, and an argument copied deeply).
 * Invariants: no crash, no leak, limits hold. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct imap_parser_limits limits = {
		.line_max = 1024, .literal_max = 512, .depth_max = 8, .args_max = 64,
	};
	struct imap_parser p;
	struct imap_seqset set;
	size_t pos = 0;

	imap_parser_init(&p, &limits);
	while (pos < size) {
		enum imap_parse_result r;
		size_t chunk = 1 + data[pos] % 13;
		if (chunk > size - pos)
			chunk = size - pos;
		pos += imap_parser_feed(&p, (const char *)data + pos, chunk, &r);
		if (r == IMAP_PARSE_DONE) {
			if (p.line_bytes > limits.line_max || p.arg_total > limits.args_max)
				abort();
			if (p.root.count > 0 && p.root.children[0].type == IMAP_ARG_ATOM &&
			    imap_seqset_parse(p.root.children[0].str, 100, &set) == 0)
				imap_seqset_free(&set);
			for (size_t i = 0; i < p.root.count; i++) {
				struct imap_url url;
				struct imap_arg copy;
				if (p.root.children[i].type != IMAP_ARG_LIST &&
				    imap_url_parse(p.root.children[i].str, &url) == 0) {
					if (url.access != NULL && url.rump_len > strlen(p.root.children[i].str))
						abort();
					imap_url_free(&url);
				}
				imap_arg_copy(&copy, &p.root.children[i]);
				imap_arg_free(&copy);
			}
			imap_parser_reset(&p);
		} else if (r == IMAP_PARSE_ERROR && p.fatal) {
			break;
		}
	}
	imap_parser_free(&p);
	return 0;
}
