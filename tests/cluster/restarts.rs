pub fn tests() -> Vec<crate::Test> {
    crate::tests![]
}
