use utoipa::{Modify, OpenApi};

use crate::routes::{admin, dev, queues, tokens};

#[derive(OpenApi)]
#[openapi(
    info(title = "queue-service", description = "Fair, bounded virtual waiting line"),
    paths(
        admin::put_queue,
        admin::delete_queue,
        queues::get_queue,
        tokens::issue,
        tokens::challenge,
        tokens::heartbeat,
        tokens::leave,
        dev::sign_in,
    ),
    components(schemas(shared::problem::Problem)),
    modifiers(&SecuritySchemes)
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        shared::auth::add_security_schemes(openapi);
    }
}
