// The live view of a sweep on a terminal: where it stands, redrawn in place (ANSI cursor
// moves, cut to the terminal's width so a wrapped line never breaks the redraw), with each
// event line printed above it.
#pragma once

#include <iosfwd>
#include <memory>

#include "sweep/controller.hpp"

namespace overdrive {

// `fd`: the terminal `out` writes to (its width is read from it).
std::unique_ptr<JobView> MakeLiveView(std::ostream& out, int fd);

}  // namespace overdrive
