//! `GET /api/kinds`: the kinds of job this server runs, with their parameters (what the
//! form in the page is built from).

use app::kind::KindInfo;
use axum::Json;
use axum::extract::State;

use super::AppState;

pub(super) async fn list(State(state): State<AppState>) -> Json<Vec<KindInfo>> {
    Json(state.kinds.infos())
}
