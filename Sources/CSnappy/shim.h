#include <stddef.h>
#include <snappy-c.h>
