// MLflow-compatible tracking API (/api/2.0/mlflow/...): being written.
#include "server/server.hpp"

namespace overdrive {
void RegisterMlflowRoutes(httplib::Server&, ServerContext&) {}
}  // namespace overdrive
