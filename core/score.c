/* placeholder: being written */
#include "core/score.h"
