/* capture_file: analyse a pcap or pcapng file. */
#ifndef FL_CAPTURE_FILE_H
#define FL_CAPTURE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "capture.h"

/* Feed every record of PATH to a new analyser and return it (free with
 * capture_free).  NULL when the file cannot be opened, with the reason in
 * ERR.  A record libpcap cannot read ends the file: *BAD_RECORDS counts it
 * and ERR says why, but the analyser of what came before is returned. */
struct capture *capture_read_file(const char *path, uint64_t *bad_records, char *err,
                                  size_t errlen);

#endif
