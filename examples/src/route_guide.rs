//! A route guide server over an in-memory list of features.

use std::time::Instant;

use rgrpc_runtime::{Request, Response, ResponseSender, Status, Streaming};

use crate::gen::route_guide::{Feature, Point, Rectangle, RouteNote, RouteSummary};
use crate::gen::route_guide_rgrpc::RouteGuide;

/// Serves a fixed set of features.
#[derive(Debug, Clone)]
pub struct RouteGuideService {
    features: Vec<Feature>,
}

/// A point from coordinates.
pub fn point(latitude: i32, longitude: i32) -> Point {
    Point {
        latitude,
        longitude,
        ..Default::default()
    }
}

impl Default for RouteGuideService {
    /// A 10 × 10 grid of named features at whole degrees.
    fn default() -> Self {
        let mut features = Vec::new();
        for lat in 0..10 {
            for lon in 0..10 {
                features.push(Feature {
                    name: format!("feature {lat},{lon}"),
                    location: Some(point(lat * 10_000_000, lon * 10_000_000)).into(),
                    ..Default::default()
                });
            }
        }
        RouteGuideService { features }
    }
}

fn inside(p: &Point, r: &Rectangle) -> bool {
    let (lo, hi) = (r.lo.get_or_default(), r.hi.get_or_default());
    let (left, right) = (
        lo.longitude.min(hi.longitude),
        lo.longitude.max(hi.longitude),
    );
    let (bottom, top) = (lo.latitude.min(hi.latitude), lo.latitude.max(hi.latitude));
    (left..=right).contains(&p.longitude) && (bottom..=top).contains(&p.latitude)
}

/// Distance in metres between two E7 points (haversine).
fn distance(a: &Point, b: &Point) -> f64 {
    let rad = |e7: i32| f64::from(e7) / 1e7 * std::f64::consts::PI / 180.0;
    let (lat1, lat2) = (rad(a.latitude), rad(b.latitude));
    let (dlat, dlon) = (lat2 - lat1, rad(b.longitude) - rad(a.longitude));
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * 6_371_000.0 * h.sqrt().atan2((1.0 - h).sqrt())
}

impl RouteGuideService {
    fn feature_at(&self, p: &Point) -> Option<&Feature> {
        self.features
            .iter()
            .find(|f| f.location.as_ref() == Some(p))
    }
}

impl RouteGuide for RouteGuideService {
    async fn get_feature(&self, req: Request<Point>) -> Result<Response<Feature>, Status> {
        let found = self
            .feature_at(req.message())
            .cloned()
            .unwrap_or_else(|| Feature {
                location: Some(req.message().clone()).into(),
                ..Default::default()
            });
        Ok(Response::new(found))
    }

    async fn list_features(
        &self,
        req: Request<Rectangle>,
        mut out: ResponseSender<Feature>,
    ) -> Result<(), Status> {
        for f in &self.features {
            if inside(f.location.get_or_default(), req.message()) {
                out.send(f.clone()).await?;
            }
        }
        Ok(())
    }

    async fn record_route(
        &self,
        req: Request<Streaming<Point>>,
    ) -> Result<Response<RouteSummary>, Status> {
        let start = Instant::now();
        let mut points = req.into_message();
        let mut summary = RouteSummary::default();
        let mut last: Option<Point> = None;
        while let Some(p) = points.message().await? {
            summary.point_count += 1;
            if self.feature_at(&p).is_some() {
                summary.feature_count += 1;
            }
            if let Some(prev) = &last {
                summary.distance += distance(prev, &p) as i32;
            }
            last = Some(p);
        }
        summary.elapsed_time = start.elapsed().as_secs() as i32;
        Ok(Response::new(summary))
    }

    async fn route_chat(
        &self,
        req: Request<Streaming<RouteNote>>,
        mut out: ResponseSender<RouteNote>,
    ) -> Result<(), Status> {
        let mut notes = req.into_message();
        let mut seen: Vec<RouteNote> = Vec::new();
        while let Some(note) = notes.message().await? {
            // Send back every earlier note made at the same place, then remember this one.
            for earlier in seen.iter().filter(|n| n.location == note.location) {
                out.send(earlier.clone()).await?;
            }
            seen.push(note);
        }
        Ok(())
    }
}
