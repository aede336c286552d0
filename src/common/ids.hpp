#pragma once

#include <string>

namespace overdrive {

// A new run id: a lowercase letter followed by 9 lowercase letters/digits ("k3j9x2mq4d"),
// random from the OS entropy source. 36^9 values: collisions are checked by the store anyway.
std::string NewRunId();

}  // namespace overdrive
