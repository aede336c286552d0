#include "cli/live_view.hpp"

#include <sys/ioctl.h>

#include <ostream>

#include "common/clock.hpp"

namespace overdrive {

namespace {

class LiveView : public JobView {
 public:
  LiveView(std::ostream& out, int fd) : out_(out), fd_(fd) {}

  void Line(const std::string& text) override {
    Erase();
    out_ << text << "\n";
    out_.flush();
    next_ = 0;  // redraw the view below the new line
  }

  void Progress(const std::function<std::vector<std::string>()>& make_lines, bool last) override {
    double now = MonotonicSeconds();
    if (!last && now < next_) return;
    winsize ws{};
    size_t width = ioctl(fd_, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 100;
    if (drawn_ > 0) out_ << "\033[" << drawn_ << "A";
    std::vector<std::string> lines = make_lines();
    for (std::string line : lines) {
      if (line.size() >= width) line = line.substr(0, width > 4 ? width - 4 : 0) + "...";
      out_ << "\033[2K" << line << "\n";
    }
    // The last drawing stays on screen: what follows goes below it.
    drawn_ = last ? 0 : static_cast<int>(lines.size());
    next_ = now + 0.5;
    out_.flush();
  }

 private:
  void Erase() {
    if (drawn_ == 0) return;
    out_ << "\033[" << drawn_ << "A";
    for (int i = 0; i < drawn_; ++i) out_ << "\033[2K\n";
    out_ << "\033[" << drawn_ << "A";
    drawn_ = 0;
  }

  std::ostream& out_;
  int fd_;
  int drawn_ = 0;
  double next_ = 0;
};

}  // namespace

std::unique_ptr<JobView> MakeLiveView(std::ostream& out, int fd) {
  return std::make_unique<LiveView>(out, fd);
}

}  // namespace overdrive
