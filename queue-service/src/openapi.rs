use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{admin, queues, tokens};

#[derive(OpenApi)]
#[openapi(
    info(title = "queue-service", description = "Fair, bounded virtual waiting line"),
    paths(admin::put_queue, queues::get_queue, tokens::issue, tokens::heartbeat, tokens::leave),
    components(schemas(shared::problem::Problem)),
    modifiers(&AdminKey)
)]
pub struct ApiDoc;

struct AdminKey;

impl Modify for AdminKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "admin_key",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
        }
    }
}
