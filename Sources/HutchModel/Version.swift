import HutchOS
public enum HutchVersion { public static let string = "0.1.0" }
