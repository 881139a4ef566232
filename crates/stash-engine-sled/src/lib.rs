pub struct Sled;
