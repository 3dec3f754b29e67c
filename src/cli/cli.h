/* Compatibility for src/cli/cmd_serve.c, which another branch moves at the same time
 * (remove at the merge): these options are src/host/jailopts.h now. */
#pragma once

#include "jailopts.h"
