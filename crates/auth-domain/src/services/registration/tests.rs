//! Unit tests of the registration use cases, with every port mocked.
