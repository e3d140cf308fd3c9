//! All four RPC shapes end to end in one process against the route guide service.

use rgrpc_examples::gen::route_guide::{Rectangle, RouteNote};
use rgrpc_examples::gen::route_guide_rgrpc::{RouteGuideClient, RouteGuideServer};
use rgrpc_examples::route_guide::{point, RouteGuideService};
use rgrpc_runtime::{Channel, Server};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = Server::builder()
        .add_service(RouteGuideServer::new(RouteGuideService::default()))
        .bind("127.0.0.1:0")
        .await?;
    let addr = server.local_addr()?;
    tokio::spawn(server.serve());
    let client = RouteGuideClient::new(Channel::connect(&format!("http://{addr}")).await?);

    // Unary.
    let feature = client.get_feature(point(30_000_000, 40_000_000)).await?;
    println!("GetFeature: {:?}", feature.message().name);

    // Server streaming.
    let rect = Rectangle {
        lo: Some(point(0, 0)).into(),
        hi: Some(point(20_000_000, 20_000_000)).into(),
        ..Default::default()
    };
    let mut features = client.list_features(rect).await?;
    let mut n = 0;
    while let Some(f) = features.message().await? {
        n += 1;
        println!("ListFeatures: {}", f.name);
    }
    println!("ListFeatures: {n} features");

    // Client streaming.
    let mut route = client.record_route(()).await?;
    for i in 0..5 {
        route.send(point(i * 10_000_000, 0)).await?;
    }
    let summary = route.finish().await?;
    println!(
        "RecordRoute: {} points, {} features, {} m",
        summary.message().point_count,
        summary.message().feature_count,
        summary.message().distance
    );

    // Bidirectional streaming.
    let (mut notes, mut replies) = client.route_chat(()).await?;
    for (i, msg) in ["first", "second", "third"].into_iter().enumerate() {
        notes
            .send(RouteNote {
                location: Some(point(0, (i % 2) as i32)).into(),
                message: msg.into(),
                ..Default::default()
            })
            .await?;
    }
    drop(notes);
    while let Some(note) = replies.message().await? {
        println!("RouteChat: got earlier note {:?}", note.message);
    }
    Ok(())
}
