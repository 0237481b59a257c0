mod breaker;

pub use breaker::*;
