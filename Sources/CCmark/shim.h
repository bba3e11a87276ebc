// The CommonMark reference library, as Debian's libcmark-dev installs it.
#include <cmark.h>
