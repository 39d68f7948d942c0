import CHutchNet
public enum HutchKitVersion { public static let string = "0.1.0" }
