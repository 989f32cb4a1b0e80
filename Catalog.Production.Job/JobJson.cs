using System.Text.Json;
using System.Text.Json.Serialization;
using Catalog.Contracts;

namespace Catalog.Production.Jobs;

/// <summary>Build-time JSON metadata of the slice file and the reports (the job runs as native AOT).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    Converters = [typeof(SnakeEnum<ProductionKind>), typeof(SnakeEnum<JobState>), typeof(SnakeEnum<FailureClass>)])]
[JsonSerializable(typeof(Slice))]
[JsonSerializable(typeof(JobReport))]
public sealed partial class JobJson : JsonSerializerContext;
