/* placeholder */
#include "config/config.h"
