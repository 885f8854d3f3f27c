use shared::openapi::Common;
use utoipa::OpenApi;

use crate::routes::{admin, dev, queues, tokens};

#[derive(OpenApi)]
#[openapi(
    info(title = "queue-service", description = "Fair, bounded virtual waiting line"),
    paths(
        admin::list_queues,
        admin::put_queue,
        admin::delete_queue,
        queues::get_queue,
        queues::get_draw,
        tokens::issue,
        tokens::challenge,
        tokens::heartbeat,
        tokens::leave,
        dev::sign_in,
    ),
    components(schemas(shared::problem::Problem)),
    modifiers(&Common)
)]
pub struct ApiDoc;
