namespace Catalog.Api.Infrastructure;

/// <summary>Who is calling: owner and group of what they create. Authentication will fill this in.</summary>
public sealed record Caller(string User, string Group);
