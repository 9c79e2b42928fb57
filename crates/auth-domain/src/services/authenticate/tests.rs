//! Unit tests of the authenticate use cases, with every port mocked.
